// Two routers and two sites (routing: bgp): benchmarks, not tests. Run as root, from the
// repository root:
//   npm run build && npx tsc -p tsconfig.json --outDir .cache/bench &&
//   node .cache/bench/bench/bgp-sites-bench.js
// Builds the topology of test/integration/fabric-sites.test.ts (r1 + r2 in site main with
// host1 and host2, r3 in site b with host3, WireGuard between them via wireguard-go), with real
// BIRD started by vmctl, and removes it.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Target } from "../lib/exec/command.js";
import { ExecRunner } from "../lib/exec/runner.js";
import { inNs, ip, run } from "../test/helpers/md-netns.js";
import { type Machine, SitesLab, vmctlSites } from "../test/helpers/netns-sites.js";
import { parseCluster } from "../vmctl/net/cluster.js";
import type { FabricContext } from "../vmctl/net/fabric.js";
import { NetworkStore } from "../vmctl/net/network-store.js";
import { attachPort } from "../vmctl/net/port.js";

const results: [string, string][] = [];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const record = (what: string, value: string) => {
  results.push([what, value]);
  console.error(`${what}: ${value}`);
};
const sleep = (t: number) => new Promise<void>((r) => setTimeout(r, t));
const lab = new SitesLab();

function ctx(): FabricContext {
  const runners = new Map<string, ExecRunner>();
  return {
    cluster: parseCluster(readFileSync(lab.clusterFile, "utf8"), lab.clusterFile),
    store: new NetworkStore(lab.stateDir),
    runnerFor: (t: Target) => {
      const k = JSON.stringify(t);
      const r = runners.get(k) ?? new ExecRunner(t);
      runners.set(k, r);
      return r;
    },
    onCommand: () => {},
  };
}

async function ok(...args: string[]): Promise<void> {
  const r = await vmctlSites(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")}: ${r.stderr}`);
}

async function until(what: string, limitMs: number, probe: () => boolean): Promise<number> {
  const t0 = performance.now();
  while (!probe()) {
    if (performance.now() - t0 > limitMs) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
  return performance.now() - t0;
}

const answers = (ns: string, addr: string) => {
  try {
    inNs(ns, "ping", ["-n", "-c1", "-W0.2", addr], 5000);
    return true;
  } catch {
    return false;
  }
};

const birdRoutes = (m: Machine) =>
  execFileSync("ip", ["-n", lab.ns(m), "route", "show", "proto", "bird"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });

let vmCount = 0;
interface Vm {
  ns: string;
  dev: string;
  addr: string;
}
async function vm(host: Machine, addr: string): Promise<Vm> {
  const n = ++vmCount;
  const mac = `52:54:00:dd:00:${n.toString(16).padStart(2, "0")}`;
  const dev = `bvm${n}`;
  const ns = lab.addVm(`b${n}`, host, dev, `${addr}/24`, mac);
  await attachPort(ctx(), { network: "net1", host, ip: addr, dev, mac });
  return { ns, dev, addr };
}

/** The router address a host's kernel picks (ECMP hash) for a VM's flow to `to`. */
function pathOf(host: Machine, dev: string, from: string, to: string): string {
  // The L3 device VMs arrive on is the bridge; their port is only its member.
  void dev;
  const out = ip(lab.ns(host), "route", "get", to, "from", from, "iif", "br-net1");
  return /via (\S+)/.exec(out)?.[1] ?? "?";
}

/** Pings from `from` to `to` every 10 ms while `during` runs; returns packets sent and lost. */
async function lossDuring(from: string, to: string, during: () => Promise<void>) {
  const p = spawn("ip", ["netns", "exec", from, "ping", "-n", "-q", "-i", "0.01", "-W", "0.1", to]);
  let out = "";
  p.stdout.setEncoding("utf8").on("data", (c: string) => {
    out += c;
  });
  await sleep(500);
  await during();
  await sleep(1000);
  p.kill("SIGINT");
  await new Promise((r) => p.on("close", r));
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { sent: Number(m?.[1]), lost: Number(m?.[1]) - Number(m?.[2]) };
}

async function main(): Promise<void> {
  lab.create();
  await ok("net", "create", "net1", "--subnet", "10.10.10.0/24");
  await ok("host", "apply");
  await ok("router", "apply");
  const sessions = () =>
    ["r1", "r2", "r3"].every((r) =>
      run("birdc", [
        "-s",
        join(lab.machineDir(r as Machine), "bird", "bird.ctl"),
        "show",
        "protocols",
      ])
        .split("\n")
        .filter((l) => /^(host|site)_/.test(l))
        .every((l) => l.includes("Established")),
    );
  await until("every BGP session", 60_000, sessions);

  // Pingers: a VM on host2 (same site) and one on host3 (site b).
  const local = await vm("host2", "10.10.10.21");
  const remote = await vm("host3", "10.10.10.31");
  await until("site b's route on r1", 30_000, () => birdRoutes("r1").includes("10.10.10.31 "));
  const samples = 5;
  const t = { attach: [] as number[], local: [] as number[], remote: [] as number[] };
  for (let i = 0; i < samples; i++) {
    const addr = `10.10.10.${40 + i}`;
    const t0 = performance.now();
    await vm("host1", addr);
    t.attach.push(performance.now() - t0);
    t.remote.push(await until(`${addr} from site b`, 20_000, () => answers(remote.ns, addr)));
    t.local.push(await until(`${addr} from host2`, 20_000, () => answers(local.ns, addr)));
  }
  record(`port attach on host1 (in-process), median of ${samples}`, ms(median(t.attach)));
  record(
    `attach returned → new VM answers a VM of the other site (host3, via r3 and the tunnel), median of ${samples}`,
    ms(median(t.remote)),
  );
  record(
    `… then answers a VM on host2 of its own site (measured after the other site's), median of ${samples}`,
    ms(median(t.local)),
  );

  // Router failure: a flow whose host sends it by r1 (the kernel's ECMP hash), both ways.
  const senders = [local];
  for (let i = 0; i < 4; i++) senders.push(await vm("host2", `10.10.10.${22 + i}`));
  const target = "10.10.10.40";
  const byR1 = (to: string) =>
    senders.find((v) => pathOf("host2", v.dev, v.addr, to) === "198.18.0.1");
  const viaR1 = byR1(target);
  const inetViaR1 = byR1("198.19.0.254");
  if (!viaR1 || !inetViaR1) throw new Error("no flow hashed to r1 among 5 VMs");
  const loss = async (what: string, action: () => Promise<void>) => {
    const [vmLoss, inetLoss] = await Promise.all([
      lossDuring(viaR1.ns, target, action),
      lossDuring(inetViaR1.ns, "198.19.0.254", () => sleep(3000)),
    ]);
    record(
      `${what}: pings lost / sent every 10 ms, VM→VM across hosts (by r1) | VM→internet (by r1)`,
      `${vmLoss.lost} / ${vmLoss.sent} (≈ ${vmLoss.lost * 10} ms) | ${inetLoss.lost} / ${inetLoss.sent} (≈ ${inetLoss.lost * 10} ms)`,
    );
  };
  await loss("r1's BIRD killed (SIGKILL)", async () => {
    process.kill(lab.birdPid("r1") ?? 0, "SIGKILL");
    await sleep(2500);
  });
  await ok("router", "apply", "r1");
  await until("r1 back in host2's ECMP route", 30_000, () =>
    ip(lab.ns("host2"), "route", "show", "table", "101", "proto", "bird").includes(
      "via 198.18.0.1 ",
    ),
  );
  await sleep(1000);
  await loss("r1's cables cut (LAN and uplink)", async () => {
    lab.cable("r1", false);
    await sleep(2500);
  });
  lab.cable("r1", true);
  await until("r1 back in host2's ECMP route", 30_000, () =>
    ip(lab.ns("host2"), "route", "show", "table", "101", "proto", "bird").includes(
      "via 198.18.0.1 ",
    ),
  );

  // A host's BIRD restarted the vmctl way, seen from both sites.
  const restart = async () => {
    run("birdc", ["-s", join(lab.machineDir("host1"), "bird", "bird.ctl"), "graceful", "restart"]);
    await until("host1 BIRD exit", 20_000, () => lab.birdPid("host1") === undefined);
    await ok("host", "apply", "host1");
    await sleep(3000);
  };
  const [g1, g2] = await Promise.all([
    lossDuring(local.ns, target, restart),
    lossDuring(remote.ns, target, () => sleep(6000)),
  ]);
  record(
    "host1's BIRD `birdc graceful restart` + `vmctl host apply`: pings lost / sent to its VM, from host2 | from site b",
    `${g1.lost} / ${g1.sent} | ${g2.lost} / ${g2.sent}`,
  );

  // 10,000 VM routes written on host1: until all are on r1, r2 (BGP from host1) and r3 (tunnel).
  await ok("net", "create", "big", "--subnet", "10.64.0.0/16");
  await ok("host", "apply", "host1");
  await ok("router", "apply");
  await until("sessions after adding big", 60_000, sessions);
  const table = JSON.parse(readFileSync(join(lab.stateDir, "networks.json"), "utf8")).networks.find(
    (n: { name: string }) => n.name === "big",
  ).table as number;
  const addrs = Array.from(
    { length: 10_000 },
    (_, i) => `10.64.${Math.floor(i / 250) + 1}.${(i % 250) + 2}`,
  );
  const batch = (verb: string) =>
    addrs.map((a) => `route ${verb} ${a} dev br-big table ${table} proto 77 scope link`).join("\n");
  const count = (m: Machine) =>
    birdRoutes(m)
      .split("\n")
      .filter((l) => l.startsWith("10.64.")).length;
  const t0 = performance.now();
  run("ip", ["-n", lab.ns("host1"), "-batch", "-"], `${batch("add")}\n`);
  const written = performance.now() - t0;
  const done: Record<string, number> = {};
  await until("10,000 routes on r1, r2 and r3", 120_000, () => {
    for (const m of ["r1", "r2", "r3"] as const)
      if (done[m] === undefined && count(m) === 10_000) done[m] = performance.now() - t0;
    return Object.keys(done).length === 3;
  });
  record("10,000 VM /32s: written on host1 (ip -batch)", ms(written));
  record(
    "10,000 VM /32s: write start → all installed on r1 | r2 | r3 (other site, over WireGuard)",
    `${ms(done.r1 ?? NaN)} | ${ms(done.r2 ?? NaN)} | ${ms(done.r3 ?? NaN)}`,
  );
  const rss = (m: Machine) =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${lab.birdPid(m)}/status`, "utf8"))?.[1]) /
    1024;
  record(
    "BIRD RSS with 10,000 routes: r1 / r2 / r3 / host1",
    `${rss("r1").toFixed(1)} / ${rss("r2").toFixed(1)} / ${rss("r3").toFixed(1)} / ${rss("host1").toFixed(1)} MiB`,
  );
}

try {
  await main();
} finally {
  lab.destroy();
}
console.log(results.map(([a, b]) => `| ${a} | ${b} |`).join("\n"));
