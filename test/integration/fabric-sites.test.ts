import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ip, run } from "../helpers/md-netns.js";
import { outRedirects, ping, udpSourceSeen } from "../helpers/netns-probes.js";
import { MACHINES, type Machine, SitesLab, vmctlSites } from "../helpers/netns-sites.js";
import { waitUntil } from "../helpers/wait.js";

// Issue 11: two routers in site main, one in site b, the sites joined by WireGuard
// (wireguard-go: this kernel has no wireguard module), real BIRD everywhere, all configured and
// started by vmctl through netns: targets. VMs are namespaces attached with the port API.
const lab = new SitesLab();
const CONVERGED = 20_000;
const vms: Record<string, string> = {};
const vm = (name: string): string => {
  const ns = vms[name];
  if (!ns) throw new Error(`VM ${name} was not created by an earlier test`);
  return ns;
};
const MAC: Record<string, string> = {
  v1: "52:54:00:00:02:01",
  v2: "52:54:00:00:02:02",
  v3: "52:54:00:00:02:03",
  v4: "52:54:00:00:02:04",
};
const ROUTERS = ["r1", "r2", "r3"] as const;
const redirectsBefore = new Map<Machine, number>();

const sock = (m: Machine) => join(lab.machineDir(m), "bird", "bird.ctl");
function birdc(m: Machine, ...args: string[]): string {
  return execFileSync("birdc", ["-s", sock(m), ...args], { encoding: "utf8" });
}

async function ok(args: string[]): Promise<string> {
  const r = await vmctlSites(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function attach(host: Machine, name: string, addr: string) {
  const dev = `vm${name.slice(1)}`;
  vms[name] = lab.addVm(name, host, dev, `${addr}/24`, MAC[name] ?? "");
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
    MAC[name] ?? "",
  ]);
}

/** The kernel routes BIRD installed on a router (main table). */
const birdRoutes = (m: Machine) =>
  ip(lab.ns(m), "route", "show")
    .split("\n")
    .filter((l) => l.includes("proto bird"))
    .join("\n");

function routeOn(m: Machine, re: RegExp, present = true) {
  return waitUntil(`${m}: route ${re} ${present ? "installed" : "gone"}`, CONVERGED, () =>
    re.test(birdRoutes(m)) === present ? true : undefined,
  );
}

function reachable(from: string, addr: string) {
  return waitUntil(`${addr} answering ${from}`, CONVERGED, () =>
    ping(from, addr, ["-W", "0.5"]).ok ? true : undefined,
  );
}

function established(m: Machine, proto: string) {
  return waitUntil(`${m}: BGP ${proto} established`, CONVERGED, () => {
    const line = birdc(m, "show", "protocols", proto)
      .split("\n")
      .find((l) => l.startsWith(proto));
    return line?.includes("Established") ? true : undefined;
  });
}

/** The routes BIRD wrote into a host's network table (default and subnet, ECMP over routers). */
const hostTable = (m: Machine) => ip(lab.ns(m), "route", "show", "table", "101", "proto", "bird");

describe("vmctl with two routers and two sites joined by WireGuard (BIRD, namespaces)", () => {
  beforeAll(async () => {
    lab.create();
    for (const m of MACHINES) redirectsBefore.set(m, outRedirects(lab.ns(m)));
    await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
  }, 60_000);

  afterAll(() => {
    lab.destroy();
  });

  it("apply starts BIRD and the tunnels, every session comes up, applying again changes nothing", async () => {
    await ok(["host", "apply"]);
    const out = await ok(["router", "apply"]);
    expect(out).toMatch(/r1: \d+ command\(s\) applied/);
    expect(out).toContain("wireguard-go vwg");
    for (const r of ["r1", "r2"] as const) {
      await established(r, "host_198_18_0_11");
      await established(r, "host_198_18_0_12");
      await established(r, "site_10_255_0_3");
    }
    await established("r3", "host_198_18_1_13");
    await established("r3", "site_10_255_0_1");
    await established("r3", "site_10_255_0_2");
    await established("host1", "router_198_18_0_2");
    // vmctl keeps the routers' keys in its state dir, readable by nobody else.
    for (const r of ROUTERS) {
      const key = join(lab.stateDir, "wireguard", `${r}.key`);
      expect(statSync(key).mode & 0o777, key).toBe(0o600);
    }
    expect(await ok(["host", "apply"])).toBe(
      "host1: up to date\nhost2: up to date\nhost3: up to date\n",
    );
    expect(await ok(["router", "apply"])).toBe("r1: up to date\nr2: up to date\nr3: up to date\n");
    // Every router has every gateway on its loopback.
    for (const r of ROUTERS)
      expect(ip(lab.ns(r), "addr", "show", "dev", "lo")).toContain("10.10.10.1/32");
  });

  it("hosts send to both routers of their site over one ECMP route that BIRD writes", async () => {
    await waitUntil("host1's ECMP default over r1 and r2", CONVERGED, () => {
      const t = hostTable("host1");
      return /default .*\n\s+nexthop via 198\.18\.0\.1 .*\n\s+nexthop via 198\.18\.0\.2 /.test(t)
        ? true
        : undefined;
    });
    expect(hostTable("host3")).toMatch(/^default via 198\.18\.1\.1 dev eth0 .*metric 32/m);
    // vmctl's own routes to the routers stay beneath, for when BIRD is not running.
    expect(ip(lab.ns("host1"), "route", "show", "table", "101", "proto", "77")).toMatch(
      /^default metric 1000 \n\s+nexthop via 198\.18\.0\.1 dev eth0 weight 1 \n\s+nexthop via 198\.18\.0\.2 /m,
    );
  });

  it("VMs on three hosts in two sites reach each other with their own addresses", async () => {
    await attach("host1", "v1", "10.10.10.11");
    await attach("host1", "v2", "10.10.10.12");
    await attach("host2", "v3", "10.10.10.21");
    await attach("host3", "v4", "10.10.10.31");
    for (const r of ["r1", "r2"] as const) {
      await routeOn(r, /^10\.10\.10\.11 via 198\.18\.0\.11 /m);
      await routeOn(r, /^10\.10\.10\.21 via 198\.18\.0\.12 /m);
      await routeOn(r, /^10\.10\.10\.31 via 10\.255\.0\.3 dev vwg/m);
    }
    await routeOn("r3", /^10\.10\.10\.11 (via 10\.255\.0\.[12] dev vwg|proto bird)/m);
    // Same host: plain L2, no router on the way.
    expect(ping(vm("v1"), "10.10.10.12").out).toContain("ttl=64");
    await reachable(vm("v3"), "10.10.10.11");
    await reachable(vm("v4"), "10.10.10.11");
    await reachable(vm("v1"), "10.10.10.31");
    expect(await udpSourceSeen(vm("v1"), "0.0.0.0", vm("v3"), "10.10.10.11")).toBe("10.10.10.21");
    expect(await udpSourceSeen(vm("v1"), "0.0.0.0", vm("v4"), "10.10.10.11")).toBe("10.10.10.31");
    expect(await udpSourceSeen(vm("v4"), "0.0.0.0", vm("v3"), "10.10.10.31")).toBe("10.10.10.21");
  });

  it("the underlay between the sites knows no VM route; the internet sees only routers (NAT)", async () => {
    expect(ip(lab.internet, "route", "show", "table", "all")).not.toContain("10.10.10");
    const seen = await udpSourceSeen(lab.internet, "198.19.0.254", vm("v1"), "198.19.0.254");
    expect(["198.19.0.1", "198.19.0.2"]).toContain(seen);
    expect(await udpSourceSeen(lab.internet, "198.19.0.254", vm("v4"), "198.19.0.254")).toBe(
      "198.19.0.3",
    );
  });

  it("hosts reach remote VMs of their networks, in their site and across, and VMs reach hosts", async () => {
    await reachable(lab.ns("host1"), "10.10.10.21");
    // VM to a host's LAN address is closed by default (docs/perimeter.md): a rule opens it.
    await ok(["fw", "allow", "net1", "198.18.0.11", "--proto", "any"]);
    await ok(["router", "apply"]);
    await reachable(vm("v3"), "198.18.0.11");
    expect(await udpSourceSeen(lab.ns("host1"), "198.18.0.11", vm("v3"), "198.18.0.11")).toBe(
      "10.10.10.21",
    );
    expect(ping(lab.ns("host1"), "10.10.10.11").out).toContain("ttl=64");
  });

  it("vmctl routes shows every session and every router holding every VM route", async () => {
    const out = await ok(["routes"]);
    for (const r of ROUTERS) expect(out).toContain(`${r}: 4 of 4 VM routes\n`);
    expect(out).toContain("r1: BGP r3 (10.255.0.3) Established\n");
    expect(out).toContain("host1: BGP r2 (198.18.0.2) Established\n");
  });

  it("the routers ignore a default route, other ranges and non-/32s a host announces", async () => {
    const conf = join(lab.machineDir("host2"), "bird", "bird.conf");
    const rogue = join(lab.dir, "rogue.conf");
    writeFileSync(
      rogue,
      `${readFileSync(conf, "utf8").replaceAll("export where net ~ VMCTL_VMS;", "export all;")}
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
    // The one acceptable route proves the sessions carried the rogue announcements.
    for (const r of ROUTERS) await routeOn(r, /^10\.10\.10\.70 /m);
    for (const r of ROUTERS) {
      const installed = birdRoutes(r);
      expect(installed, r).not.toMatch(/^default /m);
      expect(installed, r).not.toContain("203.0.113.7");
      expect(installed, r).not.toMatch(/^10\.10\.10\.0\/24 /m);
    }
    birdc("host2", "configure");
    for (const r of ROUTERS) await routeOn(r, /^10\.10\.10\.70 /m, false);
  });

  it("losing router r1 (its BIRD killed, then its cables cut) keeps VM to VM and VM to internet working", async () => {
    const pid = lab.birdPid("r1");
    expect(pid).toBeDefined();
    process.kill(pid ?? 0, "SIGKILL");
    // The hosts drop r1 from their ECMP routes: BGP sees the connection close.
    await waitUntil("host1 routing via r2 only", CONVERGED, () =>
      /^default via 198\.18\.0\.2 /m.test(hostTable("host1")) ? true : undefined,
    );
    await reachable(vm("v3"), "10.10.10.11");
    await reachable(vm("v1"), "10.10.10.31");
    await reachable(vm("v1"), "198.19.0.254");
    lab.cable("r1", false);
    for (const [from, to] of [
      ["v3", "10.10.10.11"],
      ["v1", "10.10.10.21"],
      ["v1", "10.10.10.31"],
      ["v4", "10.10.10.21"],
      ["v3", "198.19.0.254"],
    ] as const)
      await reachable(vm(from), to);
    expect(await udpSourceSeen(lab.internet, "198.19.0.254", vm("v3"), "198.19.0.254")).toBe(
      "198.19.0.2",
    );
  });

  it("r1 back: router apply starts its BIRD, which learns every route by peering", async () => {
    lab.cable("r1", true);
    await ok(["router", "apply", "r1"]);
    await established("r1", "host_198_18_0_11");
    await established("r1", "site_10_255_0_3");
    for (const re of [
      /^10\.10\.10\.11 via 198\.18\.0\.11 /m,
      /^10\.10\.10\.31 via 10\.255\.0\.3 /m,
    ])
      await routeOn("r1", re);
    await waitUntil("host1's ECMP default over r1 and r2 again", CONVERGED, () =>
      /nexthop via 198\.18\.0\.1 /.test(hostTable("host1")) ? true : undefined,
    );
  });

  it("a graceful restart of a host's BIRD, started again by host apply, withdraws none of its routes", async () => {
    const monitor: ChildProcess = spawn("ip", ["-n", lab.ns("r2"), "monitor", "route"]);
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
      await ok(["host", "apply", "host1"]);
      await established("r2", "host_198_18_0_11");
      await reachable(vm("v3"), "10.10.10.11");
      // Until the restarted BIRD's End-of-RIB, then a stale-route sweep: give both time.
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      monitor.kill();
    }
    expect(seen).not.toMatch(/^Deleted 10\.10\.10\.1[12] /m);
  });

  it("a detached VM is unreachable everywhere, with ICMP unreachable and no loop", async () => {
    await ok(["port", "detach", "net1", "--ip", "10.10.10.11"]);
    for (const r of ROUTERS) await routeOn(r, /^10\.10\.10\.11 /m, false);
    for (const from of ["v3", "v4"]) {
      const p = ping(vm(from), "10.10.10.11");
      expect(p.ok, from).toBe(false);
      expect(p.out, from).toMatch(/Destination Host Unreachable/);
      expect(p.out, from).not.toMatch(/Time to live exceeded/);
    }
    run("ip", ["-n", lab.ns("host1"), "link", "del", "vm1"]);
  });

  it("the VM moved to host2 is announced from there and reachable from both sites again", async () => {
    await attach("host2", "v1", "10.10.10.11");
    for (const r of ["r1", "r2"] as const) await routeOn(r, /^10\.10\.10\.11 via 198\.18\.0\.12 /m);
    await reachable(vm("v2"), "10.10.10.11");
    await reachable(vm("v4"), "10.10.10.11");
    expect(await udpSourceSeen(vm("v1"), "0.0.0.0", vm("v4"), "10.10.10.11")).toBe("10.10.10.31");
    expect((await vmctlSites(lab, ["routes"])).code).toBe(0);
  });

  it("--dry-run of router apply changes nothing and says so", async () => {
    const out = await ok(["--dry-run", "router", "apply"]);
    expect(out).toBe("r1: up to date\nr2: up to date\nr3: up to date\n");
  });

  it("no host or router sent an ICMP redirect through all of it", () => {
    for (const m of MACHINES) expect(outRedirects(lab.ns(m)), m).toBe(redirectsBefore.get(m));
  });
});
