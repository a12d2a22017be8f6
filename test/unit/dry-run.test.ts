import { describe, expect, it } from "vitest";
import { tapName } from "../../vmctl/vm/vms.js";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";

const UUID = "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8";
const TAP = tapName(UUID);
const MAC = "52:54:00:c6:d7:e8";
const WEB1 = { name: "web1", state: "running", xml: vmDomainXml("web1", UUID, "10.10.10.3", MAC) };

/**
 * One network, web1 running on host1 with its port recorded, its host key pinned and its DHCP
 * reservation written; then the recorded commands are cleared. What every case starts from.
 */
async function withWeb1() {
  const t = fakeCluster({
    domains: [WEB1],
    hostFiles: {
      "/srv/h1/known_hosts/web1": "10.10.10.3 ssh-ed25519 AAAA\n",
      "/srv/h1/dhcp/net1.hosts": `${MAC},10.10.10.3,web1\n`,
    },
  });
  expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
  const attach = ["port", "attach", "net1", "--host", "host1", "--ip", "10.10.10.3"];
  expect(await t.vmctl(...attach, "--dev", TAP, "--mac", MAC)).toBe(0);
  t.clear();
  return t;
}

/** Commands that change something, with what their dry run must print. */
const PLANNED: [string[], RegExp][] = [
  [["net", "create", "net2", "--subnet", "10.20.0.0/24"], /^would create network net2 /],
  [["net", "delete", "net1", "--force"], /^would delete network net1 and 1 port record/],
  [["host", "apply"], /^\[netns:h1\] ip -batch -/],
  [["router", "apply"], /^\[netns:rt\] ip -batch -/],
  [
    [
      "port",
      "attach",
      "net1",
      "--host",
      "host1",
      "--ip",
      "10.10.10.9",
      "--dev",
      "vm9",
      "--mac",
      "52:54:00:00:00:09",
    ],
    /^\[netns:h1\] ip -batch - <<'EOF'\nroute replace 10.10.10.9 /,
  ],
  [["port", "detach", "net1", "--ip", "10.10.10.3"], /^\[netns:rt\] ip route del 10.10.10.3 /],
  [
    ["create", "web2", "--net", "net1", "--image", "deb", "--no-wait"],
    /^virsh -c qemu:\/\/\/system -q start -- web2$/,
  ],
  [
    ["create", "web2", "--net", "net1", "--image", "deb"],
    /^virsh -c qemu:\/\/\/system -q start -- web2$/,
  ],
  [["start", "web1"], /^virsh -c qemu:\/\/\/system -q start -- web1$/],
  [["stop", "web1"], /^virsh -c qemu:\/\/\/system -q shutdown -- web1$/],
  [["reboot", "web1", "--force"], /^virsh -c qemu:\/\/\/system -q reset -- web1$/],
  [["delete", "web1"], /^\[netns:rt\] ip route del 10.10.10.3 /],
  [["image", "delete", "deb"], /^would delete image deb$/],
];

/** Commands that only read: a dry run is an ordinary run. */
const READS: string[][] = [
  ["net", "list"],
  ["net", "show", "net1"],
  ["list"],
  ["show", "web1"],
  ["ip", "web1"],
  ["image", "list"],
];

describe("--dry-run", () => {
  it.each(PLANNED)(
    "vmctl --dry-run %j prints what it would run and changes no machine and no file",
    async (argv, printed) => {
      const t = await withWeb1();
      const before = t.stateFiles();
      expect(await t.vmctl("--dry-run", ...argv)).toBe(0);
      expect(t.mutations()).toEqual([]);
      expect(t.stateFiles()).toEqual(before);
      expect(t.out.some((l) => printed.test(l))).toBe(true);
    },
  );

  it("vmctl --dry-run delete keeps the port record: a later apply still keeps web1's routes", async () => {
    const t = await withWeb1();
    expect(await t.vmctl("--dry-run", "delete", "web1")).toBe(0);
    t.clear();
    expect(await t.vmctl("--dry-run", "router", "apply")).toBe(0);
    expect(t.out.join("\n")).toContain("route replace 10.10.10.3 via 198.18.0.11");
    expect(t.out.join("\n")).not.toContain("route del 10.10.10.3");
  });

  it("vmctl --dry-run create --no-wait records no port for the VM it did not create", async () => {
    const t = await withWeb1();
    expect(await t.vmctl("--dry-run", "create", "web2", "--net", "net1", "--image", "deb")).toBe(0);
    expect(await t.vmctl("--json", "net", "show", "net1")).toBe(0);
    expect(JSON.parse(t.out.at(-1) ?? "").ports).toEqual([
      { network: "net1", host: "host1", ip: "10.10.10.3", dev: TAP, mac: MAC },
    ]);
  });

  it.each(READS.map((a) => [a]))(
    "vmctl --dry-run %j only reads, as without --dry-run",
    async (argv) => {
      const t = await withWeb1();
      const before = t.stateFiles();
      expect(await t.vmctl(...argv)).toBe(0);
      const plain = [...t.out];
      t.clear();
      expect(await t.vmctl("--dry-run", ...argv)).toBe(0);
      expect(t.out).toEqual(plain);
      expect(t.mutations()).toEqual([]);
      expect(t.stateFiles()).toEqual(before);
    },
  );

  it.each([
    [["ssh", "web1"], "vmctl: ssh does not support --dry-run (it runs a program in the guest)"],
    [
      ["ssh", "web1", "--", "rm", "-rf", "/"],
      "vmctl: ssh does not support --dry-run (it runs a program in the guest)",
    ],
    [["console", "web1"], "vmctl: console does not support --dry-run (it attaches a terminal)"],
  ])("vmctl --dry-run %j is refused in one line, running nothing", async (argv, line) => {
    const t = await withWeb1();
    const before = t.stateFiles();
    expect(await t.vmctl("--dry-run", ...argv)).toBe(1);
    expect(t.err).toEqual([line]);
    expect(t.commands()).toEqual([]);
    expect(t.stateFiles()).toEqual(before);
  });
});

describe("--json", () => {
  it.each([
    ["net delete", ["net", "delete", "net1", "--force"]],
    ["host apply", ["host", "apply"]],
    ["router apply", ["router", "apply"]],
    [
      "port attach",
      [
        "port",
        "attach",
        "net1",
        "--host",
        "host1",
        "--ip",
        "10.10.10.9",
        "--dev",
        "vm9",
        "--mac",
        "52:54:00:00:00:09",
      ],
    ],
    ["port detach", ["port", "detach", "net1", "--ip", "10.10.10.3"]],
    ["image delete", ["image", "delete", "deb"]],
    ["start", ["start", "web1"]],
    ["stop", ["stop", "web1"]],
    ["reboot", ["reboot", "web1"]],
    ["delete", ["delete", "web1"]],
    ["ssh", ["ssh", "web1"]],
    ["console", ["console", "web1"]],
    ["resize", ["resize", "web1", "--cpus", "2"]],
    ["snapshot create", ["snapshot", "create", "web1", "s1"]],
  ])(
    "vmctl --json %s is refused in one line (no JSON output), running nothing",
    async (name, argv) => {
      const t = await withWeb1();
      const before = t.stateFiles();
      expect(await t.vmctl("--json", ...argv)).toBe(1);
      expect(t.err).toEqual([`vmctl: ${name} has no JSON output; run it without --json`]);
      expect(t.commands()).toEqual([]);
      expect(t.stateFiles()).toEqual(before);
    },
  );

  it.each([
    ["net create", ["net", "create", "net2", "--subnet", "10.20.0.0/24"]],
    ["net list", ["net", "list"]],
    ["net show", ["net", "show", "net1"]],
    ["image list", ["image", "list"]],
    ["create", ["create", "web2", "--net", "net1", "--image", "deb", "--no-wait"]],
    ["list", ["list"]],
    ["show", ["show", "web1"]],
    ["ip", ["ip", "web1"]],
  ])("vmctl --json %s prints one JSON document", async (_, argv) => {
    const t = await withWeb1();
    expect(await t.vmctl("--json", ...argv)).toBe(0);
    expect(t.out).toHaveLength(1);
    expect(() => JSON.parse(t.out[0] ?? "")).not.toThrow();
  });
});
