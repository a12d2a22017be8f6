import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ip, run } from "../helpers/md-netns.js";
import { ping, udpSourceSeen } from "../helpers/netns-probes.js";
import { type Machine, SitesLab, vmctlSites } from "../helpers/netns-sites.js";

// routing: static with two routers (site main of the sites topology, without BIRD): vmctl
// writes each port's /32 on both routers and removes it from both.
const lab = new SitesLab();
const vms: Record<string, string> = {};

async function ok(args: string[]): Promise<string> {
  const r = await vmctlSites(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function attach(host: Machine, name: string, addr: string, mac: string) {
  const dev = `vm${name.slice(1)}`;
  vms[name] = lab.addVm(name, host, dev, `${addr}/24`, mac);
  return ok(["port", "attach", "net1", "--host", host, "--ip", addr, "--dev", dev, "--mac", mac]);
}

const ours = (m: Machine) => ip(lab.ns(m), "route", "show", "proto", "77");

describe("routing: static with two routers (namespaces)", () => {
  beforeAll(async () => {
    lab.create();
    const m = (name: Machine, extra: string[]) => [
      `  - name: ${name}`,
      `    address: ${lab.m[name].address}`,
      "    lan: eth0",
      `    target: netns:${lab.ns(name)}`,
      ...extra.map((l) => `    ${l}`),
    ];
    writeFileSync(
      lab.clusterFile,
      [
        "hosts:",
        ...m("host1", []),
        ...m("host2", []),
        "routers:",
        ...m("r1", ["uplink: up0"]),
        ...m("r2", ["uplink: up0"]),
        "",
      ].join("\n"),
    );
    await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
  }, 60_000);

  afterAll(() => {
    lab.destroy();
  });

  it("applies both routers and sends each network's traffic to both over one ECMP route", async () => {
    await ok(["host", "apply"]);
    expect(await ok(["router", "apply"])).toMatch(
      /\nr1: \d+ command\(s\) applied\nr2: \d+ command\(s\) applied\n$/,
    );
    expect(ip(lab.ns("host1"), "route", "show", "table", "101")).toMatch(
      /^default proto 77 \n\s+nexthop via 198\.18\.0\.1 dev eth0 weight 1 \n\s+nexthop via 198\.18\.0\.2 dev eth0 weight 1/m,
    );
    expect(await ok(["router", "apply"])).toBe("r1: up to date\nr2: up to date\n");
    expect(await ok(["router", "apply", "r2"])).toBe("r2: up to date\n");
    const r = await vmctlSites(lab, ["router", "apply", "r9"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe("vmctl: no router named r9 in the cluster file (routers: r1, r2)\n");
  });

  it("a port's /32 goes on both routers; VMs reach each other with their own addresses", async () => {
    await attach("host1", "v1", "10.10.10.11", "52:54:00:00:03:01");
    await attach("host2", "v2", "10.10.10.21", "52:54:00:00:03:02");
    for (const r of ["r1", "r2"] as const) {
      expect(ours(r), r).toContain("10.10.10.11 via 198.18.0.11 dev eth0");
      expect(ours(r), r).toContain("10.10.10.21 via 198.18.0.12 dev eth0");
    }
    expect(ping(vms.v2 ?? "", "10.10.10.11").ok).toBe(true);
    expect(await udpSourceSeen(vms.v1 ?? "", "0.0.0.0", vms.v2 ?? "", "10.10.10.11")).toBe(
      "10.10.10.21",
    );
    const out = await ok(["routes"]);
    expect(out).toBe("r1: 2 of 2 VM routes\nr2: 2 of 2 VM routes\n");
  });

  it("detach removes the /32 from both routers", async () => {
    await ok(["port", "detach", "net1", "--ip", "10.10.10.11"]);
    for (const r of ["r1", "r2"] as const) expect(ours(r), r).not.toContain("10.10.10.11 ");
    run("ip", ["-n", lab.ns("host1"), "link", "del", "vm1"]);
    // Known gap (static mode, two routers): in about 2 of 5 runs no ICMP error comes back at
    // all (3 of 3 echoes unanswered; the flow's ECMP hash picks the router, so likely one of
    // them drops or never sends it; not looked into yet). What always holds: no reply, and
    // nothing but the error (no loop, no time exceeded) if anything answers.
    const p = ping(vms.v2 ?? "", "10.10.10.11", ["-c3", "-i0.3"]);
    expect(p.ok).toBe(false);
    expect(p.out).not.toMatch(/Time to live exceeded|bytes from/);
    expect(p.out).toMatch(/Destination Host Unreachable|3 packets transmitted, 0 received/);
  });
});
