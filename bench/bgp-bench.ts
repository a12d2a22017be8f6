// routing: bgp benchmarks (not tests). Run as root, from the repository root:
//   npm run build && npx tsc -p tsconfig.json --outDir .cache/bench &&
//   node .cache/bench/bench/bgp-bench.js
// Builds the namespace topology of test/integration/fabric-bgp.test.ts twice (static, then
// bgp, in the same run), with real BIRD started by vmctl, and removes both.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Target } from "../lib/exec/command.js";
import { ExecRunner } from "../lib/exec/runner.js";
import { inNs, ip, run } from "../test/helpers/md-netns.js";
import { FabricLab, vmctl } from "../test/helpers/netns-fabric.js";
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
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

function ctx(lab: FabricLab): FabricContext {
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

async function ok(lab: FabricLab, ...args: string[]): Promise<void> {
  const r = await vmctl(lab, args);
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

const rssKb = (pid: number | undefined) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

/** net1 applied, one VM on host1 as the pinger. */
async function setUp(lab: FabricLab, routing: "static" | "bgp"): Promise<string> {
  lab.create({ routing });
  await ok(lab, "net", "create", "net1", "--subnet", "10.10.10.0/24");
  await ok(lab, "host", "apply");
  await ok(lab, "router", "apply");
  const mac = "52:54:00:cc:00:05";
  const pinger = lab.addVm("p", lab.hosts.host1, "pvm", "10.10.10.5/24", "10.10.10.1", mac);
  await attachPort(ctx(lab), { network: "net1", host: "host1", ip: "10.10.10.5", dev: "pvm", mac });
  if (routing === "bgp")
    await until("BGP sessions", 30_000, () =>
      ip(lab.router, "route", "show", "proto", "bird").includes("10.10.10.5 "),
    );
  return pinger;
}

/**
 * Attach (in-process) of a new VM on host2, then pings from a VM on host1 until it answers:
 * the attach's own time and the time from its return to the first reply.
 */
async function newVmReachable(lab: FabricLab, pinger: string, n: number) {
  const c = ctx(lab);
  const out = { attach: [] as number[], reply: [] as number[] };
  for (let i = 0; i < n; i++) {
    const addr = `10.10.10.${40 + i}`;
    const mac = `52:54:00:cc:01:${(16 + i).toString(16)}`;
    lab.addVm(`n${i}`, lab.hosts.host2, `nvm${i}`, `${addr}/24`, "10.10.10.1", mac);
    const t0 = performance.now();
    await attachPort(c, { network: "net1", host: "host2", ip: addr, dev: `nvm${i}`, mac });
    out.attach.push(performance.now() - t0);
    out.reply.push(await until(`${addr} reachable`, 10_000, () => answers(pinger, addr)));
  }
  return out;
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
  const samples = 7;
  const s = new FabricLab();
  try {
    const t = await newVmReachable(s, await setUp(s, "static"), samples);
    record(`static: port attach (host + router), median of ${samples}`, ms(median(t.attach)));
    record(
      `static: attach returned → new VM on host2 answers a VM on host1 (incl. ping spawn), median of ${samples}`,
      ms(median(t.reply)),
    );
  } finally {
    s.destroy();
  }
  const lab = new FabricLab();
  try {
    const pinger = await setUp(lab, "bgp");
    const t = await newVmReachable(lab, pinger, samples);
    record(`bgp: port attach (host only), median of ${samples}`, ms(median(t.attach)));
    record(
      `bgp: attach returned → new VM on host2 answers a VM on host1 (incl. ping spawn), median of ${samples}`,
      ms(median(t.reply)),
    );

    // BIRD restarts of host2 (which announces the VMs n*): pings from host1's VM to one of them.
    const sock = join(lab.machineDir("host2"), "bird", "bird.ctl");
    const restart = async (how: "graceful restart" | "down") => {
      execBirdc(sock, how);
      // BIRD removes its pid file before it has closed its control socket: wait for both.
      await until(
        "host2 BIRD exit",
        20_000,
        () => lab.birdPid("host2") === undefined && !birdAnswers(sock),
      );
      if (how === "down") {
        // A plain start, as without vmctl: no -R, so the router is told nothing is preserved.
        const conf = join(lab.machineDir("host2"), "bird");
        run("ip", [
          "netns",
          "exec",
          lab.hosts.host2,
          "bird",
          "-c",
          `${conf}/bird.conf`,
          "-s",
          sock,
          "-P",
          `${conf}/bird.pid`,
        ]);
      } else await ok(lab, "host", "apply", "host2");
      await until("host2's route back on the router", 30_000, () =>
        ip(lab.router, "route", "show", "proto", "bird").includes("10.10.10.40 via 198.18.0.12"),
      );
      await sleep(2000);
    };
    const g = await lossDuring(pinger, "10.10.10.40", () => restart("graceful restart"));
    record(
      "host BIRD `birdc graceful restart` + `vmctl host apply` (-R): pings lost / sent every 10 ms",
      `${g.lost} / ${g.sent}`,
    );
    const d = await lossDuring(pinger, "10.10.10.40", () => restart("down"));
    record(
      "host BIRD `birdc down` + plain `bird` start (no GR): pings lost / sent every 10 ms",
      `${d.lost} / ${d.sent} (≈ ${d.lost * 10} ms blackhole)`,
    );

    // `birdc restart` of the session: BIRD stays up but ends the session with a Cease, which
    // graceful restart does not cover (BIRD 2.0.12 has no RFC 8538 notification support).
    const p = await lossDuring(pinger, "10.10.10.40", async () => {
      execBirdc(sock, "restart router_198_18_0_1");
      await sleep(200);
      await until("host2's session back", 30_000, () =>
        ip(lab.router, "route", "show", "proto", "bird").includes("10.10.10.40 via 198.18.0.12"),
      );
      await sleep(2000);
    });
    record(
      "host BIRD `birdc restart <its session>`: pings lost / sent every 10 ms",
      `${p.lost} / ${p.sent} (≈ ${p.lost * 10} ms blackhole)`,
    );

    // 10,000 VM routes, written on host1 the way the port API writes them, in one ip -batch.
    await ok(lab, "net", "create", "big", "--subnet", "10.64.0.0/16");
    await ok(lab, "host", "apply", "host1");
    await ok(lab, "router", "apply");
    const table = JSON.parse(
      readFileSync(join(lab.stateDir, "networks.json"), "utf8"),
    ).networks.find((n: { name: string }) => n.name === "big").table as number;
    const addrs = Array.from(
      { length: 10_000 },
      (_, i) => `10.64.${Math.floor(i / 250) + 1}.${(i % 250) + 2}`,
    );
    const batch = (verb: string) =>
      addrs
        .map((a) => `route ${verb} ${a} dev br-big table ${table} proto 77 scope link`)
        .join("\n");
    const count = () =>
      ip(lab.router, "route", "show", "proto", "bird")
        .split("\n")
        .filter((l) => l.startsWith("10.64.")).length;
    const rssBefore = { router: rssKb(lab.birdPid("router")), host: rssKb(lab.birdPid("host1")) };
    const t0 = performance.now();
    run("ip", ["-n", lab.hosts.host1, "-batch", "-"], `${batch("add")}\n`);
    const written = performance.now() - t0;
    await until("10,000 routes on the router", 60_000, () => count() === 10_000);
    record("10,000 VM /32s: written on host1 (ip -batch)", ms(written));
    record(
      "10,000 VM /32s: host1 write start → all installed on the router (proto bird)",
      ms(performance.now() - t0),
    );
    record(
      "BIRD RSS with 10,000 routes: router / host1 (before: router / host1)",
      `${(rssKb(lab.birdPid("router")) / 1024).toFixed(1)} / ${(rssKb(lab.birdPid("host1")) / 1024).toFixed(1)} MiB (${(rssBefore.router / 1024).toFixed(1)} / ${(rssBefore.host / 1024).toFixed(1)} MiB)`,
    );
    const t1 = performance.now();
    run("ip", ["-n", lab.hosts.host1, "-batch", "-"], `${batch("del")}\n`);
    await until("10,000 routes withdrawn", 60_000, () => count() === 0);
    record(
      "10,000 VM /32s: deleted on host1 → all gone from the router",
      ms(performance.now() - t1),
    );
  } finally {
    lab.destroy();
  }
}

function birdAnswers(sock: string): boolean {
  try {
    run("birdc", ["-s", sock, "show", "status"]);
    return true;
  } catch {
    return false;
  }
}

function execBirdc(sock: string, command: string): void {
  run("birdc", ["-s", sock, ...command.split(" ")]);
}

await main();
console.log(results.map(([a, b]) => `| ${a} | ${b} |`).join("\n"));
