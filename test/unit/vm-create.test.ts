import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Command, formatCommand, formatTarget, type Target } from "../../lib/exec/command.js";
import type { RunResult } from "../../lib/exec/runner.js";
import { type CliDeps, run } from "../../vmctl/cli.js";
import { RecordingRunner } from "../helpers/recording-runner.js";
import { testDir } from "../helpers/test-dir.js";

const CLUSTER = `hosts:
  - {name: host1, address: 198.18.0.11, lan: eth0, target: "netns:h1", libvirt: "qemu:///system", state-dir: /srv/h1}
router: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0, target: "netns:rt"}
`;
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@b";

/** The tools create and delete run; any other command is a bug in the test or the code. */
const CREATE_TOOLS = [
  "ip",
  "sysctl",
  "ipset",
  "iptables",
  "true",
  "arping",
  "virsh",
  "qemu-img",
  "nft",
  "bridge",
  "dnsmasq",
  "kill",
  "mkdir",
  "rm",
  "cat",
  "test",
  "mv",
  "chmod",
  "chown",
  "install",
  "sh",
  "tee",
  "ssh-keyscan",
  "ssh-keygen",
  "dd",
  "flock",
  "timeout",
];

/**
 * vmctl's create path against recording machines (the real thing runs in the e2e test):
 * `fail` picks the command that fails; every command is logged in order with its machine.
 */
function setup(fail?: (c: Command) => boolean, domains = "", dumpxml = "") {
  const d = testDir("vmctl-create-");
  writeFileSync(join(d, "cluster.yaml"), CLUSTER);
  writeFileSync(join(d, "key.pub"), `${KEY}\n`);
  mkdirSync(join(d, "state/images"), { recursive: true });
  writeFileSync(
    join(d, "state/images/deb.json"),
    JSON.stringify({
      name: "deb",
      file: "/img/deb.qcow2",
      format: "qcow2",
      virtualSize: 2 ** 31,
      imported: "",
    }),
  );
  const log: string[] = [];
  // The host's files as dd, mv, rm and cat leave them (the DHCP files are read-modify-written).
  const files = new Map<string, string>();
  const fileOp = (c: Command): Partial<RunResult> | undefined => {
    const path = c.args.at(-1) ?? "";
    if (c.file === "dd") files.set(c.args[1]?.slice(3) ?? "", c.input ?? "");
    else if (c.file === "mv") files.set(path, files.get(c.args.at(-2) ?? "") ?? "");
    else if (c.file === "rm") files.delete(path);
    else if (c.file === "cat")
      return files.has(path) ? { stdout: files.get(path) ?? "" } : { exitCode: 1 };
    return undefined;
  };
  const err: string[] = [];
  const out: string[] = [];
  // The domain XML as virsh define read it (create removes its temporary file afterwards).
  const defined: string[] = [];
  const answer =
    (t: Target) =>
    (c: Command): Partial<RunResult> | undefined => {
      const line = `${formatTarget(t)}: ${formatCommand(c)}${c.input === undefined ? "" : ` <<${c.input}`}`;
      if (fail?.(c)) {
        log.push(`${line}!failed`);
        return { exitCode: 1, stderr: "injected failure\n" };
      }
      if (c.mutates) log.push(line);
      if (c.file === "virsh" && c.args.includes("define"))
        defined.push(readFileSync(c.args.at(-1) as string, "utf8"));
      if (c.file === "virsh" && c.args.includes("list")) return { stdout: domains };
      if (c.file === "virsh" && c.args.some((a) => a.startsWith("dumpxml")))
        return { stdout: dumpxml };
      if (c.file === "virsh" && c.args.includes("domstate"))
        return { exitCode: 1, stderr: "error: failed to get domain" };
      if (c.file === "ip" && c.args.includes("-json")) return { stdout: "[]" };
      if (c.file === "nft" && c.args[0] === "-j")
        return { exitCode: 1, stderr: "Error: No such file or directory\n" };
      const f = fileOp(c);
      if (f) return f;
      if (c.file === "test" && c.args.includes("/run/systemd/system")) return { exitCode: 1 };
      return CREATE_TOOLS.includes(c.file) ? {} : undefined;
    };
  const runners = new Map<string, RecordingRunner>();
  const deps: CliDeps = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    clusterPath: join(d, "cluster.yaml"),
    stateDir: join(d, "state"),
    readFile: (p) => readFileSync(p, "utf8"),
    runnerFor: (t) => {
      const key = formatTarget(t);
      if (!runners.has(key))
        runners.set(
          key,
          new RecordingRunner(
            t,
            answer(t),
            `the tools of create and delete: ${CREATE_TOOLS.join(", ")}`,
          ),
        );
      return runners.get(key) as RecordingRunner;
    },
  };
  const vmctl = (...argv: string[]) => run(argv, deps);
  const ports = () => JSON.parse(readFileSync(join(d, "state/networks.json"), "utf8")).ports;
  return { d, log, err, out, defined, vmctl, ports, files };
}

async function withNetwork(t: ReturnType<typeof setup>) {
  expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
  t.log.length = 0;
}

const create = (t: ReturnType<typeof setup>, ...extra: string[]) =>
  t.vmctl(
    "create",
    "web1",
    "--net",
    "net1",
    "--image",
    "deb",
    "--ssh-key",
    join(t.d, "key.pub"),
    "--no-wait",
    ...extra,
  );

describe("vmctl create", () => {
  it("puts filters and the host route in place before the port is up, and starts last", async () => {
    const t = setup();
    await withNetwork(t);
    expect(await create(t)).toBe(0);
    const at = (re: RegExp) => {
      const i = t.log.findIndex((l) => re.test(l));
      expect(i, String(re)).toBeGreaterThanOrEqual(0);
      return i;
    };
    const disk = at(/qemu-img create .* -b \/img\/deb.qcow2 \/srv\/h1\/disks\/web1.qcow2$/);
    const tap = at(/ip tuntap add dev vm[0-9a-f]{10} mode tap/);
    const filters = at(/nft -f - <<table bridge vmctl_portsec\n/);
    const port = at(/netns:h1: ip -batch - <<route replace 10.10.10.3 dev br-net1 table 101/);
    const router = at(/netns:rt: ip route replace 10.10.10.3 via 198.18.0.11/);
    const dhcp = at(
      /dd status=none of=\/srv\/h1\/dhcp\/net1.hosts.[0-9a-f]{12}.tmp <<52:54:00(:[0-9a-f]{2}){3},10.10.10.3,web1/,
    );
    const define = at(/virsh -c qemu:\/\/\/system -q define /);
    const start = at(/virsh -c qemu:\/\/\/system -q start -- web1/);
    expect(tap).toBeLessThan(filters);
    expect(filters).toBeLessThan(port);
    // The /32 comes before the port is up (docs/fabric.md pitfall 3), its static FDB entry too.
    const fdb = at(
      /netns:h1: bridge fdb replace 52:54:00(:[0-9a-f]{2}){3} dev vm[0-9a-f]{10} master static/,
    );
    const up = at(/netns:h1: ip link set dev vm[0-9a-f]{10} up$/);
    expect(port).toBeLessThan(fdb);
    expect(fdb).toBeLessThan(up);
    expect(Math.max(disk, port, router)).toBeLessThan(define);
    expect(Math.max(dhcp, define)).toBeLessThan(start);
    expect(start).toBe(t.log.length - 1);
    // The overlay is QEMU's alone, in a directory only root and QEMU can enter.
    const dir = at(/netns:h1: install -d -m 0750 -o root -g libvirt-qemu -- \/srv\/h1\/disks$/);
    const owner = at(/netns:h1: chown libvirt-qemu:libvirt-qemu -- \/srv\/h1\/disks\/web1.qcow2$/);
    const mode = at(/netns:h1: chmod 0600 -- \/srv\/h1\/disks\/web1.qcow2$/);
    expect([dir, disk, owner].sort((a, b) => a - b)).toEqual([dir, disk, owner]);
    expect(mode).toBeGreaterThan(owner);
    expect(mode).toBeLessThan(define);
    // mdserver serves the network's CIDR as the guest's subnet and VPC blocks.
    expect(t.defined[0]).toContain("<vmctl:subnet>10.10.10.0/24</vmctl:subnet>");
    expect(t.ports()).toEqual([
      expect.objectContaining({ network: "net1", host: "host1", ip: "10.10.10.3" }),
    ]);
    expect(t.out.at(-1)).toBe("web1 started: 10.10.10.3 on net1, host host1");
  });

  it.each([
    ["the disk", (c: Command) => c.file === "qemu-img" && c.args[0] === "create"],
    ["the disk's owner", (c: Command) => c.file === "chown"],
    ["the tap", (c: Command) => c.file === "ip" && c.args[0] === "tuntap"],
    ["the filters", (c: Command) => c.file === "nft" && c.args[0] === "-f"],
    ["the router route", (c: Command) => c.file === "ip" && c.args.includes("via")],
    ["the DHCP server", (c: Command) => c.file === "dnsmasq"],
    ["the define", (c: Command) => c.file === "virsh" && c.args.includes("define")],
    ["the start", (c: Command) => c.file === "virsh" && c.args.includes("start")],
  ])("fails at %s: one error line, everything made is undone, no port left", async (_, pred) => {
    let armed = false;
    const t = setup((c) => armed && pred(c));
    await withNetwork(t);
    armed = true;
    expect(await create(t)).toBe(1);
    // Progress lines, then exactly one error line.
    expect(t.err.filter((l) => l.startsWith("vmctl:"))).toEqual([
      expect.stringMatching(/^vmctl: .*injected failure$/),
    ]);
    expect(t.err.at(-1)).toMatch(/^vmctl: /);
    expect(t.ports()).toEqual([]);
    const at = (re: RegExp) => t.log.findIndex((l) => re.test(l));
    const failed = t.log.findIndex((l) => l.endsWith("!failed"));
    // Each thing made before the failure is undone after it.
    const pairs: [RegExp, RegExp][] = [
      [/qemu-img create/, /rm -f -- \/srv\/h1\/disks\/web1.qcow2/],
      [/ip tuntap add/, /ip link del dev vm/],
      [
        /nft -f - <<table bridge vmctl_portsec\n/,
        /nft -f - <<table bridge vmctl_portsec\n(?![\s\S]*add element bridge vmctl_portsec port_mac)/,
      ],
      [/netns:rt: ip route replace 10.10.10.3/, /netns:rt: ip route del 10.10.10.3/],
      [
        /netns:h1: ip -batch - <<route replace 10.10.10.3/,
        /netns:h1: ip route del 10.10.10.3|ip -batch - <<route del 10.10.10.3/,
      ],
      [/-q define /, /-q undefine --nvram -- web1/],
    ];
    for (const [made, undone] of pairs) {
      const m = at(made);
      if (m >= 0 && m !== failed)
        expect(
          t.log.findIndex((l, i) => i > failed && undone.test(l)),
          String(made),
        ).toBeGreaterThan(failed);
    }
    // The DHCP reservation file ends empty if it was ever written.
    expect(t.files.get("/srv/h1/dhcp/net1.hosts") ?? "").toBe("");
  });

  it.each([
    [["--net", "nope"], "vmctl: no network named nope (see: vmctl net list)"],
    [["--ip", "10.10.10.300"], "vmctl: --ip 10.10.10.300: not an IPv4 address"],
    [["--ip", "10.20.0.5"], "vmctl: --ip 10.20.0.5: outside network net1 (10.10.10.0/24)"],
    [
      ["--ip", "10.10.10.1"],
      "vmctl: --ip 10.10.10.1: that is network net1's gateway or bridge address",
    ],
    [["--image", "missing"], "vmctl: no image missing (see: vmctl image list; or give a path)"],
    [["--memory", "lots"], "vmctl: --memory lots: a size of at least 128M, e.g. 1G"],
    [["--disk", "1G"], "vmctl: --disk 1G: smaller than the image (2147483648 bytes)"],
    [["--cpus", "0"], "vmctl: --cpus 0: a whole number from 1 to 64"],
    [["--host", "host9"], "vmctl: no host named host9 in the cluster file (hosts: host1)"],
    [["--ssh-key", "/no/such.pub"], "vmctl: --ssh-key /no/such.pub: cannot read (ENOENT)"],
  ])("refuses %j with one line and changes nothing", async (extra, message) => {
    const t = setup();
    await withNetwork(t);
    const [flag, value] = extra as [string, string];
    const args = ["create", "web1", "--net", "net1", "--image", "deb", "--no-wait", flag, value];
    expect(await t.vmctl(...args)).toBe(1);
    expect(t.err).toEqual([message]);
    expect(t.log).toEqual([]);
  });

  it("refuses an --identity outside its choices as a usage error, changing nothing", async () => {
    const t = setup();
    await withNetwork(t);
    const args = ["create", "web1", "--net", "net1", "--image", "deb", "--identity", "azure"];
    expect(await t.vmctl(...args)).toBe(2);
    expect(t.err).toEqual([
      "error: option '--identity <mode>' argument 'azure' is invalid. Allowed choices are ec2, aws, openstack, plain.",
    ]);
    expect(t.log).toEqual([]);
  });

  it("refuses a name that is taken, or not a hostname", async () => {
    const dump = `<domain><name>web1</name><uuid>11111111-2222-3333-4444-555555555555</uuid><metadata><vmctl:instance xmlns:vmctl="urn:vmctl:instance:1"><vmctl:network>net1</vmctl:network></vmctl:instance></metadata></domain>`;
    const t = setup(undefined, " 1    web1   running\n", dump);
    await withNetwork(t);
    expect(await t.vmctl("create", "web1", "--net", "net1", "--image", "deb", "--no-wait")).toBe(1);
    expect(await t.vmctl("create", "Web_1", "--net", "net1", "--image", "deb", "--no-wait")).toBe(
      1,
    );
    expect(t.err).toEqual([
      "vmctl: a VM named web1 exists (vmctl delete web1 first)",
      'vmctl: VM name "Web_1": use lower-case letters, digits and - (a hostname label)',
    ]);
    expect(t.log).toEqual([]);
  });

  it("gives two concurrent creates two different addresses", async () => {
    const t = setup();
    await withNetwork(t);
    const base = ["--net", "net1", "--image", "deb", "--no-wait"];
    const codes = await Promise.all([
      t.vmctl("create", "a1", ...base),
      t.vmctl("create", "a2", ...base),
    ]);
    expect(codes).toEqual([0, 0]);
    expect(
      t
        .ports()
        .map((p: { ip: string }) => p.ip)
        .sort(),
    ).toEqual(["10.10.10.3", "10.10.10.4"]);
  });
});

describe("vmctl start", () => {
  const UUID = "11111111-2222-3333-4444-555555555555";
  const TAP = "vm1111122223";
  const dump = `<domain><name>web1</name><uuid>${UUID}</uuid><devices><interface type='bridge'><mac address='52:54:00:55:55:55'/></interface></devices><metadata><vmctl:instance xmlns:vmctl="urn:vmctl:instance:1"><vmctl:network>net1</vmctl:network><vmctl:ip>10.10.10.7</vmctl:ip></vmctl:instance></metadata></domain>`;

  it("re-plugs a lost tap as create plugs it: old port out, tap, port in, then start", async () => {
    const tapGone = (c: Command) => c.file === "ip" && c.args[0] === "link" && c.args[1] === "show";
    const t = setup(tapGone, " -    web1   shut off\n", dump);
    await withNetwork(t);
    const attach = ["port", "attach", "net1", "--host", "host1", "--ip", "10.10.10.7"];
    expect(await t.vmctl(...attach, "--dev", TAP, "--mac", "52:54:00:55:55:55")).toBe(0);
    t.log.length = 0;
    expect(await t.vmctl("start", "web1")).toBe(0);
    const at = (re: RegExp) => t.log.findIndex((l) => re.test(l));
    const detach = at(/netns:rt: ip route del 10\.10\.10\.7 /);
    const tap = at(new RegExp(`netns:h1: ip tuntap add dev ${TAP} mode tap$`));
    const attachAgain = at(/netns:rt: ip route replace 10\.10\.10\.7 /);
    const start = at(/virsh .*start -- web1$/);
    expect(detach).toBeGreaterThanOrEqual(0);
    expect(tap).toBeGreaterThan(detach);
    expect(attachAgain).toBeGreaterThan(tap);
    expect(start).toBeGreaterThan(attachAgain);
    expect(t.ports()).toEqual([
      {
        network: "net1",
        host: "host1",
        ip: "10.10.10.7",
        dev: TAP,
        mac: "52:54:00:55:55:55",
        vm: "web1",
      },
    ]);
  });
});
