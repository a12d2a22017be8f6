import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Command, formatCommand, formatTarget, type Target } from "../../lib/exec/command.js";
import type { RunResult } from "../../lib/exec/runner.js";
import { type CliDeps, run } from "../../vmctl/cli.js";
import { RecordingRunner } from "../helpers/recording-runner.js";
import { testDir } from "../helpers/test-dir.js";

const CLUSTER = `hosts:
  - {name: host1, address: 198.18.0.11, lan: eth0, target: "netns:h1"}
  - {name: host2, address: 198.18.0.12, lan: eth0, target: "netns:h2"}
router: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0, target: "netns:rt"}
`;

/** The tools the fabric commands run; any other command is a bug in the test or the code. */
const FABRIC_TOOLS = ["ip", "sysctl", "ipset", "iptables", "true", "arping", "nft", "bridge"];

/** Machines that answer reads with an empty state; `broken` machines fail in given ways. */
function setup(
  broken: Record<string, (c: Command) => Partial<RunResult> | undefined> = {},
  cluster = CLUSTER,
) {
  const d = testDir("vmctl-cli-");
  writeFileSync(join(d, "cluster.yaml"), cluster);
  const out: string[] = [];
  const err: string[] = [];
  const runners = new Map<string, RecordingRunner>();
  const answer =
    (t: Target) =>
    (c: Command): Partial<RunResult> | undefined => {
      const fail = broken[formatTarget(t)];
      if (fail && c.file === "ip" && c.args[0] === "-batch") {
        // Like ip -batch: stop at the first failing line and name it.
        const lines = (c.input ?? "").trimEnd().split("\n");
        for (const [i, line] of lines.entries()) {
          const b = fail({ file: "ip", args: line.split(" "), mutates: true });
          if (b) return { ...b, stderr: `${b.stderr ?? ""}Command failed -:${i + 1}\n` };
        }
      }
      const b = fail?.(c);
      if (b) return b;
      if (c.file === "ip" && c.args.includes("-json")) return { stdout: "[]" };
      if (c.file === "bridge" && c.args.includes("-json")) return { stdout: "[]" };
      // No port security table yet on a fresh machine.
      if (c.file === "nft" && c.args[0] === "-j")
        return { exitCode: 1, stderr: "Error: No such file or directory\n" };
      return FABRIC_TOOLS.includes(c.file) ? {} : undefined;
    };
  const deps: CliDeps = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    clusterPath: join(d, "cluster.yaml"),
    stateDir: join(d, "state"),
    readFile: (p) => readFileSync(p, "utf8"),
    runnerFor: (t) => {
      const key = formatTarget(t);
      let r = runners.get(key);
      if (!r) {
        r = new RecordingRunner(t, answer(t), `the fabric tools ${FABRIC_TOOLS.join(", ")}`);
        runners.set(key, r);
      }
      return r;
    },
  };
  const mutations = (target: string) =>
    (runners.get(target)?.commands ?? [])
      .filter((c) => c.mutates)
      .map((c) => formatCommand(c) + (c.input === undefined ? "" : ` <<${c.input}`));
  const commands = (target: string) => (runners.get(target)?.commands ?? []).map(formatCommand);
  return { deps, out, err, mutations, commands, vmctl: (...argv: string[]) => run(argv, deps) };
}

describe("vmctl CLI (fake machines)", () => {
  it("creates, lists and deletes networks in the store", async () => {
    const t = setup();
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    expect(await t.vmctl("--json", "net", "list")).toBe(0);
    expect(JSON.parse(t.out[1] ?? "")).toMatchObject([{ name: "net1", table: 101 }]);
    expect(await t.vmctl("net", "delete", "net1")).toBe(0);
    expect(await t.vmctl("--json", "net", "list")).toBe(0);
    expect(t.out[3]).toBe("[]");
  });

  it("lists the cluster file's hosts and routers, contacting no machine", async () => {
    const t = setup();
    expect(await t.vmctl("--json", "host", "list")).toBe(0);
    expect(JSON.parse(t.out[0] ?? "")).toEqual(
      [1, 2].map((n) => ({
        name: `host${n}`,
        address: `198.18.0.1${n}`,
        target: `netns:h${n}`,
        libvirt: "qemu:///system",
        site: "main",
      })),
    );
    expect(await t.vmctl("router", "list")).toBe(0);
    expect(t.out.slice(1)).toEqual([
      "NAME    ADDRESS     TARGET    SITE",
      "router  198.18.0.1  netns:rt  main",
    ]);
    for (const m of ["netns:h1", "netns:h2", "netns:rt", "local"])
      expect(t.commands(m)).toEqual([]);
  });

  it.each([
    [
      ["net", "create", "b", "--subnet", "10.10.10.128/25"],
      "vmctl: subnet 10.10.10.128/25 overlaps network a (10.10.10.0/24)",
    ],
    [
      ["net", "create", "b", "--subnet", "10.20.0.0/24", "--gateway", "10.30.0.1"],
      "vmctl: gateway 10.30.0.1 is not a usable address in 10.20.0.0/24",
    ],
    [["net", "create", "a", "--subnet", "10.40.0.0/24"], "vmctl: network a already exists"],
    [["net", "delete", "zz"], "vmctl: no network named zz (see: vmctl net list)"],
    [
      ["host", "apply", "nohost"],
      "vmctl: no host named nohost in the cluster file (hosts: host1, host2)",
    ],
  ])("rejects bad input with one line and exit 1 (%#)", async (argv, line) => {
    const t = setup();
    await t.vmctl("net", "create", "a", "--subnet", "10.10.10.0/24");
    expect(await t.vmctl(...argv)).toBe(1);
    expect(t.err).toEqual([line]);
  });

  it("changes no host when one host cannot be reached", async () => {
    const t = setup({
      "netns:h2": (c) =>
        c.file === "true"
          ? {
              exitCode: 255,
              stderr: 'Cannot open network namespace "h2": No such file or directory\n',
            }
          : undefined,
    });
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    expect(await t.vmctl("host", "apply")).toBe(1);
    expect(t.err).toEqual([
      'vmctl: host2 cannot be reached: Cannot open network namespace "h2": No such file or directory',
    ]);
    expect(t.mutations("netns:h1")).toEqual([]);
  });

  it("names a missing tool and its package, changing nothing", async () => {
    const t = setup({
      "netns:rt": (c) =>
        c.file === "nft"
          ? { exitCode: 255, stderr: 'exec of "nft" failed: No such file or directory\n' }
          : undefined,
    });
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    expect(await t.vmctl("router", "apply")).toBe(1);
    expect(t.err).toEqual(["vmctl: router: nft not found (install nftables)"]);
    expect(t.mutations("netns:rt")).toEqual([]);
  });

  it("rolls back the commands already run when one fails", async () => {
    const t = setup({
      "netns:h1": (c) =>
        c.file === "ip" && c.args[0] === "rule" && c.args[1] === "add"
          ? { exitCode: 2, stderr: "RTNETLINK answers: Operation not permitted\n" }
          : undefined,
    });
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    expect(await t.vmctl("host", "apply", "host1")).toBe(1);
    expect(t.err[0]).toMatch(
      /^vmctl: host1: ip rule add pref 1000 .* failed \(exit 2\): RTNETLINK answers: Operation not permitted; rolled back \d+ earlier commands$/,
    );
    const m = t.mutations("netns:h1");
    expect(m).toContain("ip link del br-net1");
    expect(m).toContain("ip route del default via 198.18.0.1 dev eth0 table 101 proto 77");
    expect(m.indexOf("ip link del br-net1")).toBeGreaterThan(
      m.indexOf("ip route del default via 198.18.0.1 dev eth0 table 101 proto 77"),
    );
  });

  it("--dry-run prints the commands with their target and runs none", async () => {
    const t = setup();
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    t.out.length = 0;
    expect(await t.vmctl("--dry-run", "router", "apply")).toBe(0);
    expect(t.out.join("\n")).toContain(
      "[netns:rt] ip -batch - <<'EOF'\nlink set dev lo up\naddr replace 10.10.10.1/32 dev lo label lo:vmctl\n",
    );
    // The router's nft table, its exact `nft -f` input: routing and NAT of net1 in one transaction.
    expect(t.out.join("\n")).toContain(
      "[netns:rt] nft -f - <<'EOF'\ntable ip vmctl_router\ndelete table ip vmctl_router\ntable ip vmctl_router {",
    );
    expect(t.out.join("\n")).toContain("add element ip vmctl_router nets { 10.10.10.0/24 }");
    expect(t.out.at(-1)).toBe("router: 12 command(s) would run");
    expect(t.mutations("netns:rt")).toEqual([]);
  });

  it("refuses to delete a network with ports unless forced", async () => {
    const t = setup();
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    const file = join(t.deps.stateDir, "networks.json");
    const data = JSON.parse(readFileSync(file, "utf8"));
    data.ports.push({ network: "net1", host: "host1", ip: "10.10.10.11", dev: "vm1" });
    writeFileSync(file, JSON.stringify(data));
    expect(await t.vmctl("net", "delete", "net1")).toBe(1);
    expect(t.err).toEqual([
      "vmctl: network net1 is used by 1 VM port(s) (10.10.10.11); detach them or use --force",
    ]);
    expect(await t.vmctl("net", "delete", "net1", "--force")).toBe(0);
  });

  it("attaches a port: host /32 before the port comes up, then the router /32; records it", async () => {
    const t = setup();
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    expect(
      await t.vmctl(
        "port",
        "attach",
        "net1",
        "--host",
        "host2",
        "--ip",
        "10.10.10.11",
        "--dev",
        "vm1",
        "--mac",
        "52:54:00:00:01:01",
      ),
    ).toBe(0);
    const [nft, sg, ...rest] = t.mutations("netns:h2");
    // Port security first, in one transaction: the table (fresh machine) and the port's elements.
    expect(nft).toMatch(
      /^nft -f - <<table bridge vmctl_portsec\ndelete table bridge vmctl_portsec\n/,
    );
    expect(nft).toContain(
      'add element bridge vmctl_portsec port_arp { "vm1" . 52:54:00:00:01:01 . 10.10.10.11 }\n',
    );
    // Then its security groups (the network's default group), also before the port is up.
    expect(sg).toMatch(/^nft -f - <<table bridge vmctl_sg\n/);
    expect(sg).toContain('add element bridge vmctl_sg p_default-net1 { "vm1" }\n');
    expect(rest).toEqual([
      "ip -batch - <<route replace 10.10.10.11 dev br-net1 table 101 proto 77 scope link\n" +
        "link set dev vm1 master br-net1\n" +
        "link set dev vm1 type bridge_slave learning off flood off\n",
      "bridge fdb replace 52:54:00:00:01:01 dev vm1 master static",
      "ip link set dev vm1 up",
    ]);
    expect(t.mutations("netns:rt")).toEqual([
      "ip route replace 10.10.10.11 via 198.18.0.12 dev eth0 proto 77",
    ]);
    const store = JSON.parse(readFileSync(join(t.deps.stateDir, "networks.json"), "utf8"));
    expect(store.ports).toEqual([
      { network: "net1", host: "host2", ip: "10.10.10.11", dev: "vm1", mac: "52:54:00:00:01:01" },
    ]);
    expect(
      await t.vmctl(
        "port",
        "attach",
        "net1",
        "--host",
        "host1",
        "--ip",
        "10.10.10.11",
        "--dev",
        "vm9",
        "--mac",
        "52:54:00:00:01:09",
      ),
    ).toBe(1);
    expect(t.err).toEqual(["vmctl: address 10.10.10.11 is already attached on host2"]);
    const again = (mac: string) =>
      t.vmctl(
        "port",
        "attach",
        "net1",
        "--host",
        "host1",
        "--ip",
        "10.10.10.12",
        "--dev",
        "vm9",
        "--mac",
        mac,
      );
    expect(await again("52:54:00:00:01:01")).toBe(1);
    expect(await again("53:54:00:00:01:09")).toBe(1);
    expect(await again("52:54:00:00:01")).toBe(1);
    expect(t.err.slice(1)).toEqual([
      "vmctl: --mac 52:54:00:00:01:01: already used by 10.10.10.11 in network net1",
      "vmctl: --mac 53:54:00:00:01:09: not a unicast MAC address (use 52:54:00:12:34:56)",
      "vmctl: --mac 52:54:00:00:01: not a unicast MAC address (use 52:54:00:12:34:56)",
    ]);
    expect(store.ports).toHaveLength(1);
  });

  it("undoes the host side of an attach when the router refuses the /32, recording nothing", async () => {
    const t = setup({
      "netns:rt": (c) =>
        c.file === "ip" && c.args[0] === "route" && c.args[1] === "replace"
          ? { exitCode: 2, stderr: "RTNETLINK answers: Network is unreachable\n" }
          : undefined,
    });
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    const attach = ["port", "attach", "net1", "--host", "host1", "--ip", "10.10.10.11"];
    expect(await t.vmctl(...attach, "--dev", "vm1", "--mac", "52:54:00:00:01:01")).toBe(1);
    expect(t.err[0]).toMatch(/^vmctl: router: ip route replace 10\.10\.10\.11 .*unreachable$/);
    const undone = t.mutations("netns:h1").slice(-4);
    expect(undone.slice(0, 2)).toEqual([
      "ip link set dev vm1 nomaster",
      "ip route del 10.10.10.11 dev br-net1 table 101 proto 77 scope link",
    ]);
    // Security groups and port security back to the store's ports: the port's elements go again.
    expect(undone[2]).toMatch(/^nft -f - <<table bridge vmctl_sg\n/);
    expect(undone[2]).not.toContain('"vm1"');
    expect(undone[3]).toMatch(/^nft -f - <<table bridge vmctl_portsec\n/);
    expect(undone[3]).not.toContain('"vm1"');
    const store = JSON.parse(readFileSync(join(t.deps.stateDir, "networks.json"), "utf8"));
    expect(store.ports).toEqual([]);
  });

  it("detaches a port: router /32 first, then host /32 and port, then a gratuitous ARP", async () => {
    const t = setup();
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    await t.vmctl(
      "port",
      "attach",
      "net1",
      "--host",
      "host1",
      "--ip",
      "10.10.10.11",
      "--dev",
      "vm1",
      "--mac",
      "52:54:00:00:01:01",
    );
    expect(await t.vmctl("port", "detach", "net1", "--ip", "10.10.10.11")).toBe(0);
    expect(t.mutations("netns:rt").at(-1)).toBe(
      "ip route del 10.10.10.11 via 198.18.0.11 dev eth0 proto 77",
    );
    const detached = t.mutations("netns:h1").slice(5);
    expect(detached.slice(0, 2)).toEqual([
      "ip route del 10.10.10.11 dev br-net1 table 101 proto 77 scope link",
      "ip link set dev vm1 nomaster",
    ]);
    // The fake machine never holds the tables, so the planner rebuilds them: without vm1.
    expect(detached[2]).toMatch(/^nft -f - <<table bridge vmctl_portsec\n/);
    expect(detached[2]).not.toContain("vm1");
    expect(detached[3]).toMatch(/^nft -f - <<table bridge vmctl_sg\n/);
    expect(detached[3]).not.toContain('"vm1"');
    expect(detached[4]).toBe("arping -q -U -c1 -w 0.2 -S 10.10.10.11 -i br-net1 10.10.10.11");
    const store = JSON.parse(readFileSync(join(t.deps.stateDir, "networks.json"), "utf8"));
    expect(store.ports).toEqual([]);
  });

  it("with routing: bgp, attach and detach run nothing on the router (its BIRD learns the /32)", async () => {
    const t = setup({}, `routing: bgp\n${CLUSTER}`);
    await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
    const attach = ["port", "attach", "net1", "--host", "host1", "--ip", "10.10.10.11"];
    expect(await t.vmctl(...attach, "--dev", "vm1", "--mac", "52:54:00:00:01:01")).toBe(0);
    expect(t.mutations("netns:h1")).toContain(
      "ip -batch - <<route replace 10.10.10.11 dev br-net1 table 101 proto 77 scope link\n" +
        "link set dev vm1 master br-net1\n" +
        "link set dev vm1 type bridge_slave learning off flood off\n",
    );
    expect(await t.vmctl("port", "detach", "net1", "--ip", "10.10.10.11")).toBe(0);
    expect(t.mutations("netns:h1")).toContain(
      "ip route del 10.10.10.11 dev br-net1 table 101 proto 77 scope link",
    );
    expect(t.commands("netns:rt")).toEqual([]);
  });
});
