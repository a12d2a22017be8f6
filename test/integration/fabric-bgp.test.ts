import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ip, run } from "../helpers/md-netns.js";
import { FabricLab, vmctl } from "../helpers/netns-fabric.js";
import { ping, udpSourceSeen } from "../helpers/netns-probes.js";
import { waitUntil } from "../helpers/wait.js";

// Issue 11, first slice: routing: bgp. Real BIRD on each host and the router, started and
// configured by vmctl through netns: targets; VMs are namespaces attached with the port API.
const lab = new FabricLab();
const vms: Record<string, string> = {};
const vm = (name: string): string => {
  const ns = vms[name];
  if (!ns) throw new Error(`VM ${name} was not created by an earlier test`);
  return ns;
};
const CONVERGED = 20_000;

const sock = (m: "host1" | "host2" | "router") => join(lab.machineDir(m), "bird", "bird.ctl");
const conf = (m: "host1" | "host2" | "router") => join(lab.machineDir(m), "bird", "bird.conf");

function birdc(m: "host1" | "host2" | "router", ...args: string[]): string {
  return execFileSync("birdc", ["-s", sock(m), ...args], { encoding: "utf8" });
}

async function ok(args: string[]): Promise<string> {
  const r = await vmctl(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const MAC = {
  v1: "52:54:00:00:01:01",
  v2: "52:54:00:00:01:02",
  v3: "52:54:00:00:01:03",
};

async function attach(host: "host1" | "host2", name: keyof typeof MAC, addr: string) {
  const dev = `vm${name.slice(1)}`;
  return ok([
    "port",
    "attach",
    "net1",
    "--host",
    host,
    "--ip",
    addr,
    "--dev",
    dev,
    "--mac",
    MAC[name],
  ]);
}

/** The router's main-table routes BIRD installed (not `show proto bird`: it omits "proto bird"). */
const birdRoutes = () =>
  ip(lab.router, "route", "show")
    .split("\n")
    .filter((l) => l.includes(" proto bird "))
    .join("\n");

/** Waits until the router's kernel has (or lacks) a BIRD route line. */
function routerRoute(line: string, present = true) {
  return waitUntil(`router route "${line}" ${present ? "installed" : "gone"}`, CONVERGED, () =>
    birdRoutes().includes(line) === present ? true : undefined,
  );
}

function reachable(from: string, addr: string) {
  return waitUntil(`${addr} answering ${from}`, CONVERGED, () =>
    ping(from, addr).ok ? true : undefined,
  );
}

function established(m: "host1" | "host2" | "router", proto: string) {
  return waitUntil(`${m}: BGP ${proto} established`, CONVERGED, () => {
    const line = birdc(m, "show", "protocols", proto)
      .split("\n")
      .find((l) => l.startsWith(proto));
    return line?.includes("Established") ? true : undefined;
  });
}

describe("vmctl fabric with routing: bgp (BIRD) in network namespaces", () => {
  beforeAll(async () => {
    lab.create({ routing: "bgp" });
    await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
  });

  afterAll(() => {
    lab.destroy();
  });

  it("apply starts BIRD on every machine, the sessions come up, applying again changes nothing", async () => {
    expect(await ok(["host", "apply"])).toMatch(/host1: \d+ command\(s\) applied/);
    expect(await ok(["router", "apply"])).toMatch(/router: \d+ command\(s\) applied/);
    for (const m of ["host1", "host2", "router"] as const) expect(lab.birdPid(m), m).toBeDefined();
    await established("router", "host_198_18_0_11");
    await established("router", "host_198_18_0_12");
    expect(await ok(["host", "apply"])).toBe("host1: up to date\nhost2: up to date\n");
    expect(await ok(["router", "apply"])).toBe("router: up to date\n");
  });

  it("--dry-run prints the config diff and the reload, and changes nothing", async () => {
    await ok(["net", "create", "net2", "--subnet", "10.20.20.0/24"]);
    const before = readFileSync(conf("host1"), "utf8");
    const out = await ok(["--dry-run", "host", "apply", "host1"]);
    expect(out).toContain(`--- ${conf("host1")}\n+++ ${conf("host1")} (vmctl)\n`);
    expect(out).toContain(
      "\n-define VMCTL_VMS = [ 10.10.10.0/24{32,32} ];\n-define VMCTL_NETS = [ 10.10.10.0/24 ];\n+define VMCTL_VMS = [ 10.10.10.0/24{32,32}, 10.20.20.0/24{32,32} ];\n+define VMCTL_NETS = [ 10.10.10.0/24, 10.20.20.0/24 ];\n",
    );
    expect(out).toContain(`[netns:${lab.hosts.host1}] birdc -s ${sock("host1")} configure\n`);
    expect(readFileSync(conf("host1"), "utf8")).toBe(before);
    expect(birdc("host1", "show", "protocols")).not.toContain("kernel_102");
    expect(await ok(["host", "apply"])).toContain(`host1: birdc -s ${sock("host1")} configure\n`);
    expect(birdc("host1", "show", "protocols")).toContain("kernel_102");
    await ok(["router", "apply"]);
    expect(await ok(["host", "apply"])).toBe("host1: up to date\nhost2: up to date\n");
  });

  it("a VM on host1 is reachable from a VM on host2 through the router via BIRD, source preserved", async () => {
    const { host1, host2 } = lab.hosts;
    vms.v1 = lab.addVm("v1", host1, "vm1", "10.10.10.11/24", "10.10.10.1", MAC.v1);
    vms.v2 = lab.addVm("v2", host1, "vm2", "10.10.10.12/24", "10.10.10.1", MAC.v2);
    vms.v3 = lab.addVm("v3", host2, "vm3", "10.10.10.21/24", "10.10.10.1", MAC.v3);
    await attach("host1", "v1", "10.10.10.11");
    await attach("host1", "v2", "10.10.10.12");
    await attach("host2", "v3", "10.10.10.21");
    await routerRoute("10.10.10.11 via 198.18.0.11 dev eth0 proto bird");
    await routerRoute("10.10.10.21 via 198.18.0.12 dev eth0 proto bird");
    // vmctl itself wrote no per-VM route on the router.
    expect(ip(lab.router, "route", "show", "proto", "77")).not.toMatch(/^10\.10\.10\.\d+ /m);
    await reachable(vm("v3"), "10.10.10.11");
    expect(await udpSourceSeen(vm("v1"), "0.0.0.0", vm("v3"), "10.10.10.11")).toBe("10.10.10.21");
    expect(await udpSourceSeen(vm("v3"), "0.0.0.0", vm("v1"), "10.10.10.21")).toBe("10.10.10.11");
  });

  it("hosts reach remote VMs of their networks and VMs reach other hosts' LAN addresses", async () => {
    await reachable(lab.hosts.host1, "10.10.10.21");
    // Closed by default (router protection, docs/perimeter.md); a perimeter rule opens it.
    await ok(["fw", "allow", "net1", "198.18.0.11", "--proto", "any"]);
    await ok(["router", "apply"]);
    await reachable(vm("v3"), "198.18.0.11");
    expect(await udpSourceSeen(lab.hosts.host1, "198.18.0.11", vm("v3"), "198.18.0.11")).toBe(
      "10.10.10.21",
    );
    // Local VMs are still reached on the bridge, not via the router.
    expect(ping(lab.hosts.host1, "10.10.10.11").out).toContain("ttl=64");
  });

  it("vmctl routes shows the sessions and the router's VM routes, and flags a lost one", async () => {
    const out = await ok(["routes"]);
    expect(out).toContain("router: BGP host1 (198.18.0.11) Established\n");
    expect(out).toContain("host2: BGP router (198.18.0.1) Established\n");
    expect(out).toContain("router: 3 of 3 VM routes\n");
    // host2 loses the VM's /32 (drift): its BIRD withdraws it.
    ip(lab.hosts.host2, "route", "del", "10.10.10.21", "table", "101");
    await routerRoute("10.10.10.21 via", false);
    const r = await vmctl(lab, ["routes"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("router: no route to 10.10.10.21 via host2 (network net1)\n");
    expect(r.stderr).toBe("vmctl: 1 problem(s), listed above\n");
    // host apply repairs the drift; the route comes back by BGP.
    await ok(["host", "apply", "host2"]);
    await routerRoute("10.10.10.21 via 198.18.0.12 dev eth0 proto bird");
    expect((await vmctl(lab, ["routes"])).code).toBe(0);
  });

  it("the router ignores a default route, other ranges and non-/32s a host announces", async () => {
    // host2's BIRD turned rogue: it exports everything, including static routes it made up.
    const rogue = join(lab.dir, "rogue.conf");
    writeFileSync(
      rogue,
      `${readFileSync(conf("host2"), "utf8").replace("export where net ~ VMCTL_VMS;", "export all;")}
protocol static rogue {
  ipv4;
  route 0.0.0.0/0 blackhole;
  route 203.0.113.7/32 blackhole;
  route 10.10.10.0/24 blackhole;
  route 10.10.10.70/32 blackhole;
}
`,
    );
    birdc("host2", "configure", `"${rogue}"`);
    // The one acceptable route proves the session carried the rogue announcements.
    await routerRoute("10.10.10.70 via 198.18.0.12 dev eth0 proto bird");
    const sent = birdc("host2", "show", "route", "export", "router_198_18_0_1");
    for (const n of ["0.0.0.0/0", "203.0.113.7/32", "10.10.10.0/24"]) expect(sent).toContain(n);
    const installed = birdRoutes();
    expect(installed).not.toMatch(/^default /m);
    expect(installed).not.toContain("203.0.113.7");
    expect(installed).not.toMatch(/^10\.10\.10\.0\/24 /m);
    expect(birdc("router", "show", "route", "protocol", "host_198_18_0_12")).not.toContain(
      "0.0.0.0/0",
    );
    birdc("host2", "configure");
    await routerRoute("10.10.10.70 via", false);
  });

  it("a graceful restart of a host's BIRD, started again by host apply, never withdraws its routes", async () => {
    const monitor: ChildProcess = spawn("ip", ["-n", lab.router, "monitor", "route"]);
    let seen = "";
    monitor.stdout?.setEncoding("utf8");
    monitor.stdout?.on("data", (c: string) => {
      seen += c;
    });
    try {
      birdc("host1", "graceful", "restart");
      await waitUntil("host1's BIRD to exit", CONVERGED, () =>
        lab.birdPid("host1") === undefined ? true : undefined,
      );
      const out = await ok(["host", "apply", "host1"]);
      expect(out).toContain(` -P ${join(lab.machineDir("host1"), "bird", "bird.pid")} -R\n`);
      expect(out).toContain("host1: 1 command(s) applied");
      await established("router", "host_198_18_0_11");
      await reachable(vm("v3"), "10.10.10.11");
      // Until the restarted BIRD's End-of-RIB, then a stale-route sweep: give both time.
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      monitor.kill();
    }
    expect(seen).not.toMatch(/^Deleted 10\.10\.10\.1[12] /m);
    expect(birdRoutes()).toContain("10.10.10.11 via 198.18.0.11");
  });

  it("a detached VM's route is withdrawn and senders get ICMP unreachable from the router", async () => {
    await ok(["port", "detach", "net1", "--ip", "10.10.10.11"]);
    await routerRoute("10.10.10.11 via", false);
    const p = ping(vm("v3"), "10.10.10.11");
    expect(p.ok).toBe(false);
    // From the router's `unreachable 10.10.10.0/24`, not a timeout in a black hole.
    expect(p.out).toMatch(/From 198\.18\.0\.1 icmp_seq=1 Destination Host Unreachable/);
    run("ip", ["-n", lab.hosts.host1, "link", "del", "vm1"]);
  });

  it("a VM moved from host1 to host2 is announced by host2 and reachable again", async () => {
    lab.addVm("v1", lab.hosts.host2, "vm1", "10.10.10.11/24", "10.10.10.1", MAC.v1);
    await attach("host2", "v1", "10.10.10.11");
    await routerRoute("10.10.10.11 via 198.18.0.12 dev eth0 proto bird");
    await reachable(vm("v2"), "10.10.10.11");
    expect(await udpSourceSeen(vm("v1"), "0.0.0.0", vm("v2"), "10.10.10.11")).toBe("10.10.10.12");
  });

  it("detaching every port withdraws every route; deleting the networks leaves BIRD carrying nothing", async () => {
    for (const a of ["10.10.10.11", "10.10.10.12", "10.10.10.21"])
      await ok(["port", "detach", "net1", "--ip", a]);
    await waitUntil("no BIRD route on the router", CONVERGED, () =>
      birdRoutes() === "" ? true : undefined,
    );
    await ok(["fw", "del", "1"]);
    await ok(["net", "delete", "net1"]);
    await ok(["net", "delete", "net2"]);
    await ok(["host", "apply"]);
    await ok(["router", "apply"]);
    expect(readFileSync(conf("router"), "utf8")).not.toContain("VMCTL_VMS");
    expect(ip(lab.hosts.host1, "rule", "show")).not.toContain("lookup 101");
    expect(await ok(["host", "apply"])).toBe("host1: up to date\nhost2: up to date\n");
  });
});
