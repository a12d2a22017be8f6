import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecRunner } from "../../lib/exec/runner.js";
import { parseCluster } from "../../vmctl/net/cluster.js";
import { NetworkStore } from "../../vmctl/net/network-store.js";
import { parseTable } from "../../vmctl/net/nft-table.js";
import { sgLayout } from "../../vmctl/net/sg-nft.js";
import { SG_TABLE, sgSpec } from "../../vmctl/net/sg-rules.js";
import { setReservation } from "../../vmctl/vm/dhcp-server.js";
import { inNs, ip, run } from "../helpers/md-netns.js";
import { FabricLab, vmctl } from "../helpers/netns-fabric.js";
import { ping } from "../helpers/netns-probes.js";
import { echoServers, longFlow, stopAll, tcpOk } from "../helpers/netns-tcp.js";

/**
 * Security groups and IP groups on a two-host fabric, real nftables, namespace "VMs" plugged
 * in with `vmctl port attach --sg`. Groups:
 *   app:  egress to anywhere (no ingress)     web: tcp 80 from sg:app and ipg:office, icmp from 10.10.10.0/24
 *   db:   tcp 5432 from sg:app                none: no rules at all
 * Ports: a1 [app] b1 [web] e1 [none] f1 (default) on host1; c2 [web,db] d2 (default) on host2.
 * The outside address (ipg office) is a client on the LAN, 198.18.0.50: the router drops new
 * connections from its uplink to VMs (docs/perimeter.md), but forwards the LAN's. The
 * "internet" namespace 198.19.0.2 is where VMs connect out (NAT).
 */
const lab = new FabricLab();
const H = lab.hosts;
const hostState = join(lab.dir, "host1");
const VM = {
  a1: { host: "host1", ip: "10.10.10.11", sg: "app" },
  b1: { host: "host1", ip: "10.10.10.12", sg: "web" },
  e1: { host: "host1", ip: "10.10.10.13", sg: "none" },
  f1: { host: "host1", ip: "10.10.10.14", sg: undefined },
  c2: { host: "host2", ip: "10.10.10.21", sg: "web,db" },
  d2: { host: "host2", ip: "10.10.10.22", sg: undefined },
} as const;
type Vm = keyof typeof VM;
const ns = {} as Record<Vm, string>;
const OUTSIDE = "198.18.0.50";
const INTERNET = "198.19.0.2";
const client = `${lab.id}-cl`;
const PORTS = [22, 80, 5432];

async function ok(args: string[]): Promise<string> {
  const r = await vmctl(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The table as the planner reads it, and each rule's handle: element updates keep them. */
function table(host: "host1" | "host2") {
  const text = inNs(H[host], "nft", ["-j", "list", "table", "bridge", SG_TABLE]);
  const { nftables } = JSON.parse(text) as { nftables: { rule?: { handle: number } }[] };
  const handles = nftables.flatMap((x) => (x.rule ? [x.rule.handle] : []));
  const spec = sgSpec(sgLayout(new NetworkStore(lab.stateDir).read()));
  return { ...parseTable(text, spec), handles };
}

const storeText = () => readFileSync(join(lab.stateDir, "networks.json"), "utf8");
/** The table but for the flow sets (the reader leaves their elements out): structure, handles, members. */
function planned(host: "host1" | "host2") {
  const t = table(host);
  return { structure: t.structure, handles: t.handles, elements: t.elements };
}

describe("security groups and IP groups", () => {
  beforeAll(async () => {
    lab.create();
    run("ip", ["netns", "add", client]);
    run("ip", [
      "link",
      "add",
      "cl",
      "netns",
      lab.lan,
      "type",
      "veth",
      "peer",
      "eth0",
      "netns",
      client,
    ]);
    ip(lab.lan, "link", "set", "cl", "master", "lan0", "up");
    ip(client, "addr", "add", `${OUTSIDE}/24`, "dev", "eth0");
    ip(client, "link", "set", "eth0", "up");
    ip(client, "route", "add", "10.10.10.0/24", "via", "198.18.0.1");
    await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
    await ok(["host", "apply"]);
    await ok(["router", "apply"]);
    await ok(["ipg", "create", "office", OUTSIDE]);
    for (const g of ["app", "web", "db", "none"]) await ok(["sg", "create", g]);
    await ok(["sg", "rule", "add", "app", "--egress", "--proto", "any", "--to", "0.0.0.0/0"]);
    await ok([
      "sg",
      "rule",
      "add",
      "web",
      "--ingress",
      "--proto",
      "tcp",
      "--port",
      "80",
      "--from",
      "sg:app",
    ]);
    await ok([
      "sg",
      "rule",
      "add",
      "web",
      "--ingress",
      "--proto",
      "tcp",
      "--port",
      "80",
      "--from",
      "ipg:office",
    ]);
    await ok([
      "sg",
      "rule",
      "add",
      "web",
      "--ingress",
      "--proto",
      "icmp",
      "--from",
      "10.10.10.0/24",
    ]);
    await ok([
      "sg",
      "rule",
      "add",
      "db",
      "--ingress",
      "--proto",
      "tcp",
      "--port",
      "5432",
      "--from",
      "sg:app",
    ]);
    let i = 0;
    for (const [name, v] of Object.entries(VM) as [Vm, (typeof VM)[Vm]][]) {
      const mac = `52:54:00:00:01:${(0x10 + i++).toString(16)}`;
      ns[name] = lab.addVm(name, H[v.host], `vm${name}`, `${v.ip}/24`, "10.10.10.1", mac);
      await ok([
        "port",
        "attach",
        "net1",
        "--host",
        v.host,
        "--ip",
        v.ip,
        "--dev",
        `vm${name}`,
        "--mac",
        mac,
        ...(v.sg ? ["--sg", v.sg] : []),
      ]);
      await echoServers(ns[name], "0.0.0.0", PORTS);
    }
    await echoServers(lab.internet, "0.0.0.0", [80]);
    // Metadata (169.254.169.254:80 on the host) and vmctl's DHCP server with e1's reservation.
    await echoServers(H.host1, "169.254.169.254", [80]);
    const cluster = parseCluster(readFileSync(lab.clusterFile, "utf8"), lab.clusterFile);
    const host = { ...(cluster.hosts[0] as (typeof cluster.hosts)[0]), stateDir: hostState };
    const net = new NetworkStore(lab.stateDir).read().networks[0];
    if (!net) throw new Error("no network");
    await setReservation(new ExecRunner({ kind: "netns", name: H.host1 }), host, net, {
      add: { mac: "52:54:00:00:01:12", ip: VM.e1.ip, name: "e1" },
    });
  }, 180_000);

  afterAll(() => {
    stopAll();
    try {
      run("ip", ["netns", "del", client]);
    } catch {
      // not created
    }
    const pidFile = join(hostState, "dhcp/net1.pid");
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8").trim()));
      } catch {
        // already gone
      }
    }
    lab.destroy();
  });

  it("allows and denies by group, same host and across hosts, by tcp port, icmp, sg: and ipg:", async () => {
    const tcp = (from: Vm | "outside", to: Vm, port: number) =>
      tcpOk(from === "outside" ? client : ns[from], VM[to].ip, port);
    const matrix = {
      "a1->b1:80 same host, web from sg:app": [await tcp("a1", "b1", 80), true],
      "a1->b1:22 same host, no rule": [await tcp("a1", "b1", 22), false],
      "a1->c2:80 cross host": [await tcp("a1", "c2", 80), true],
      "a1->c2:5432 cross host, db from sg:app": [await tcp("a1", "c2", 5432), true],
      "d2->c2:5432 same host, d2 not in app": [await tcp("d2", "c2", 5432), false],
      "f1->c2:80 cross host, f1 not in app": [await tcp("f1", "c2", 80), false],
      "outside->b1:80 ipg:office": [await tcp("outside", "b1", 80), true],
      "outside->b1:22": [await tcp("outside", "b1", 22), false],
      "outside->a1:80 app has no ingress": [await tcp("outside", "a1", 80), false],
      "d2->f1:22 cross host, default group from itself": [await tcp("d2", "f1", 22), true],
      "a1->f1:22 a1 not in the default group": [await tcp("a1", "f1", 22), false],
      "b1->a1:22 web has no egress": [await tcp("b1", "a1", 22), false],
      "ping a1->b1 icmp from 10.10.10.0/24": [ping(ns.a1, VM.b1.ip).ok, true],
      "ping d2->c2 same host": [ping(ns.d2, VM.c2.ip).ok, true],
      "ping outside->b1 not in 10.10.10.0/24": [ping(client, VM.b1.ip).ok, false],
      "ping a1->d2 default group: not from app": [ping(ns.a1, VM.d2.ip).ok, false],
    };
    const got = Object.fromEntries(Object.entries(matrix).map(([k, [v]]) => [k, v]));
    const want = Object.fromEntries(Object.entries(matrix).map(([k, [, w]]) => [k, w]));
    expect(got).toEqual(want);
    // The denials were counted at the receiving port's host.
    expect(
      Number(
        /packets (\d+)/.exec(
          inNs(H.host1, "nft", ["list", "counter", "bridge", SG_TABLE, "ingress_denied"]),
        )?.[1],
      ),
    ).toBeGreaterThan(0);
  }, 120_000);

  it("lets replies in statefully: a group with no ingress gets answers to its own connections", async () => {
    // app allows no ingress at all; a1's connections out (NATed to the internet, to c2) work.
    expect(await tcpOk(ns.a1, INTERNET, 80)).toBe(true);
    expect(await tcpOk(ns.a1, VM.c2.ip, 5432)).toBe(true);
    expect(ping(ns.a1, INTERNET).ok).toBe(true);
    // ...but the same peers cannot open a connection to a1.
    expect(await tcpOk(ns.c2, VM.a1.ip, 22)).toBe(false);
  }, 60_000);

  it("keeps metadata and DHCP reachable from a port whose group allows nothing", async () => {
    expect(await tcpOk(ns.e1, "169.254.169.254", 80)).toBe(true);
    const dir = join(lab.dir, "e1");
    inNs(ns.e1, "mkdir", ["-p", dir]);
    const args = [
      "-cf",
      "/dev/null",
      "-sf",
      "/bin/true",
      "-lf",
      join(dir, "lease"),
      "-pf",
      join(dir, "pid"),
      "eth0",
    ];
    inNs(ns.e1, "dhclient", ["-1", ...args], 30_000);
    inNs(ns.e1, "dhclient", ["-x", ...args], 30_000);
    expect(/fixed-address ([0-9.]+);/.exec(readFileSync(join(dir, "lease"), "utf8"))?.[1]).toBe(
      VM.e1.ip,
    );
    // Nothing else, either way.
    expect(ping(ns.e1, VM.a1.ip).ok).toBe(false);
    expect(await tcpOk(ns.a1, VM.e1.ip, 22)).toBe(false);
  }, 60_000);

  it("applies a membership change on another host by set elements only (rules and handles unchanged)", async () => {
    expect(await tcpOk(ns.f1, VM.c2.ip, 5432)).toBe(false);
    const before = { h1: table("host1"), h2: table("host2") };
    await ok(["sg", "attach", "net1:10.10.10.14", "app"]);
    const after = { h1: table("host1"), h2: table("host2") };
    expect(await tcpOk(ns.f1, VM.c2.ip, 5432)).toBe(true);
    for (const h of ["h1", "h2"] as const) {
      expect(after[h].handles).toEqual(before[h].handles);
      expect(after[h].structure).toEqual(before[h].structure);
    }
    expect(after.h2.elements.a_app).toContain(VM.f1.ip);
    expect(after.h1.elements.p_app).toContain('"vmf1"');
    await ok(["sg", "detach", "net1:10.10.10.14", "app"]);
    expect(await tcpOk(ns.f1, VM.c2.ip, 5432)).toBe(false);
    expect(table("host2").handles).toEqual(before.h2.handles);
  }, 60_000);

  it("keeps an established TCP flow through unrelated membership, IP group and rule changes", async () => {
    const flow = await longFlow(ns.a1, VM.c2.ip, 5432);
    const handles = table("host2").handles;
    await ok(["sg", "attach", "net1:10.10.10.14", "db"]);
    await ok(["ipg", "add", "office", "192.0.2.0/24"]);
    expect(table("host2").handles).toEqual(handles);
    // A rule change rewrites the rules but keeps the tracked flows.
    await ok([
      "sg",
      "rule",
      "add",
      "db",
      "--ingress",
      "--proto",
      "udp",
      "--port",
      "5000-5010",
      "--from",
      "ipg:office",
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const result = await flow.end();
    expect(result.err).toBe("");
    expect(result.sent).toBeGreaterThan(5);
    expect(result.got).toBeGreaterThanOrEqual(result.sent - 2);
  }, 60_000);

  it("host apply converges: a second apply changes nothing, a deleted rule is put back", async () => {
    expect(await ok(["host", "apply"])).toMatch(/host1: up to date\nhost2: up to date/);
    const t = JSON.parse(
      inNs(H.host2, "nft", ["-j", "list", "chain", "bridge", SG_TABLE, "ingress"]),
    ) as {
      nftables: { rule?: { handle: number; comment?: string } }[];
    };
    const victim = t.nftables
      .map((x) => x.rule)
      .filter((r) => r?.comment)
      .pop();
    inNs(H.host2, "nft", [
      "delete",
      "rule",
      "bridge",
      SG_TABLE,
      "ingress",
      "handle",
      String(victim?.handle),
    ]);
    const out = await ok(["host", "apply"]);
    expect(out).toMatch(/host1: up to date\nhost2: 1 command\(s\) applied/);
    expect(await ok(["host", "apply"])).toMatch(/host1: up to date\nhost2: up to date/);
    expect(await tcpOk(ns.a1, VM.c2.ip, 5432)).toBe(true);
  }, 60_000);

  it("shows each rule, where it is enforced and whether it is in place", async () => {
    const show = JSON.parse(await ok(["--json", "sg", "show", "web"])) as {
      rules: { rule: string; enforcedOn: string[]; inPlace: Record<string, boolean> }[];
      ports: { ip: string }[];
    };
    expect(show.rules.map((r) => r.rule)).toContain(
      "--ingress --proto tcp --port 80 --from ipg:office",
    );
    expect(show.rules.every((r) => r.enforcedOn.join() === "host1,host2")).toBe(true);
    expect(show.rules.every((r) => r.inPlace.host1 && r.inPlace.host2)).toBe(true);
    expect(show.ports.map((p) => p.ip).sort()).toEqual([VM.b1.ip, VM.c2.ip]);
  });

  it("--dry-run prints the nft input and changes neither the hosts nor the store", async () => {
    const before = {
      store: storeText(),
      h1: planned("host1"),
    };
    const out = await ok(["--dry-run", "sg", "attach", "net1:10.10.10.22", "app"]);
    expect(out).toContain(`add element bridge ${SG_TABLE} a_app { ${VM.d2.ip} }`);
    expect(out).toContain("would attach");
    expect(storeText()).toBe(before.store);
    expect(planned("host1")).toEqual(before.h1);
  });

  it("refuses bad input in one line and changes nothing", async () => {
    const before = { store: storeText(), h2: planned("host2") };
    const bad: [string[], RegExp][] = [
      [
        ["sg", "rule", "add", "nope", "--ingress", "--proto", "tcp", "--from", "10.0.0.0/8"],
        /no security group named nope/,
      ],
      [
        [
          "sg",
          "rule",
          "add",
          "web",
          "--ingress",
          "--proto",
          "tcp",
          "--port",
          "80",
          "--from",
          "ipg:office",
        ],
        /already has the rule/,
      ],
      [
        ["sg", "rule", "add", "web", "--ingress", "--proto", "any", "--from", "ipg:office"],
        /overlaps web's rule/,
      ],
      [
        [
          "sg",
          "rule",
          "add",
          "web",
          "--ingress",
          "--proto",
          "tcp",
          "--port",
          "0",
          "--from",
          "10.0.0.0/8",
        ],
        /--port 0: give a port 1-65535/,
      ],
      [
        [
          "sg",
          "rule",
          "add",
          "web",
          "--ingress",
          "--proto",
          "tcp",
          "--port",
          "70000",
          "--from",
          "10.0.0.0/8",
        ],
        /--port 70000/,
      ],
      [
        ["sg", "rule", "add", "web", "--ingress", "--proto", "tcp", "--from", "10.0.0.1/8"],
        /--from 10.0.0.1\/8 has host bits set/,
      ],
      [
        ["sg", "rule", "add", "web", "--ingress", "--proto", "tcp", "--from", "sg:nope"],
        /no security group named nope/,
      ],
      [
        [
          "sg",
          "rule",
          "add",
          "web",
          "--ingress",
          "--proto",
          "icmp",
          "--port",
          "5",
          "--from",
          "10.0.0.0/8",
        ],
        /--port applies to tcp and udp only/,
      ],
      [["sg", "delete", "web"], /security group web is used by port net1:10.10.10.12/],
      [["sg", "delete", "app"], /used by/],
      [["ipg", "delete", "office"], /IP group office is used by security group/],
      [["sg", "attach", "net1:10.10.10.99", "web"], /no VM port net1:10.10.10.99/],
      [["sg", "detach", "net1:10.10.10.12", "web"], /only security group/],
    ];
    for (const [args, why] of bad) {
      const r = await vmctl(lab, args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(why);
    }
    expect(storeText()).toBe(before.store);
    expect(planned("host2")).toEqual(before.h2);
  }, 60_000);
});
