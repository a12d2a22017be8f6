// mdserver benchmarks (not tests). Run as root after `npm run build`:  npm run bench
// Side by side in one run on loopback, because these machines are shared and noisy.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { instanceIdFromUuid, uuidFromName } from "../lib/instance.js";
import { cloudInitCrawl, fetchFrom } from "./crawl.js";

const DIST = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "mdserver-bench-"));
const PATH = "/2021-03-23/meta-data/instance-id";
const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Which parts to run: throughput, storm, inventory (default all). */
const ONLY = (process.env.BENCH_ONLY ?? "throughput,storm,inventory").split(",");
/** Every server started, so a failed run ends them too (by their PIDs). */
const children = new Set<ChildProcess>();

function start(args: string[], ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((res, rej) => {
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      if (out.includes(ready)) {
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        res(child);
      }
    });
    child.once("exit", (code) => rej(new Error(`${args[0]} exited ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  child.removeAllListeners("exit");
  const done = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await done;
}

/** A YAML inventory of n instances on 127.1.x.y plus 127.0.0.1 (the load generator's address). */
function inventory(n: number): string {
  const file = join(work, `instances-${n}.yaml`);
  const lines = ["instances:", "  - {name: bench0, ip: 127.0.0.1}"];
  // Each VM its own hostname, so the storm can check that every crawl got its own identity.
  for (let i = 1; i < n; i++) {
    lines.push(`  - {name: vm${i}, ip: ${clientAddress(i)}, hostname: host-${i}}`);
  }
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

const clientAddress = (i: number) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

async function mdserver(
  port: number,
  instances: number,
  logRequests = true,
): Promise<ChildProcess> {
  const conf = join(work, `md-${port}.conf`);
  writeFileSync(
    conf,
    `[mdserver]\nstate-dir = ${work}/state-${port}\nlisten = 127.0.0.1\nport = ${port}\nlibvirt = no\npassword = bench\ninstances-file = ${inventory(instances)}\nlog-requests = ${logRequests ? "yes" : "no"}\n`,
  );
  return start([join(DIST, "mdserver/main.js"), "--config", conf], "mdserver listening");
}

/** user + system CPU time of a process, in clock ticks (100 a second). */
function cpuTicks(pid: number | undefined): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(f[11]) + Number(f[12]);
}

/**
 * A saturated round. Besides req/s, the server's own CPU time per answered request: on a
 * shared, loaded machine req/s follows whatever else runs, the CPU a request costs much less.
 */
async function load(port: number, connections = 200, server?: ChildProcess) {
  const before = server ? cpuTicks(server.pid) : 0;
  const r = await autocannon({
    url: `http://127.0.0.1:${port}${PATH}`,
    connections,
    duration: DURATION,
  });
  const ticks = server ? cpuTicks(server.pid) - before : 0;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
    cpuUs: (ticks * 10_000) / Math.max(1, r.requests.total),
  };
}

function rssMiB(child: ChildProcess): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function throughput() {
  console.log(
    `\n## Throughput: GET ${PATH}, 200 connections, ${DURATION} s per round: ${ROUNDS} saturated rounds alternating`,
  );
  const hello = await start([join(DIST, "bench/hello-server.js"), "8280"], "listening");
  const md = await mdserver(8281, 10);
  const quiet = await mdserver(8284, 10, false);
  const rows: Record<string, ReturnType<typeof load> extends Promise<infer T> ? T[] : never> = {
    hello: [],
    mdserver: [],
    "mdserver, log-requests = no": [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    rows.hello?.push(await load(8280, 200, hello));
    rows.mdserver?.push(await load(8281, 200, md));
    rows["mdserver, log-requests = no"]?.push(await load(8284, 200, quiet));
  }
  await stop(hello);
  await stop(md);
  await stop(quiet);
  console.log(
    "| server | req/s (median) | p50 ms | p99 ms | CPU µs/request (median) | errors |\n|---|---|---|---|---|---|",
  );
  for (const [name, rs] of Object.entries(rows)) {
    console.log(
      `| ${name} | ${Math.round(median(rs.map((r) => r.rps)))} | ${median(rs.map((r) => r.p50))} | ${median(rs.map((r) => r.p99))} | ${median(rs.map((r) => r.cpuUs)).toFixed(1)} | ${rs.reduce((a, r) => a + r.errors, 0)} |`,
    );
  }
  const med = (name: string, k: "rps" | "p99" | "cpuUs") =>
    median(rows[name]?.map((r) => r[k]) ?? []);
  console.log(
    `\nmdserver / bare server: req/s ${(med("mdserver", "rps") / med("hello", "rps")).toFixed(2)}, ` +
      `p99 ${(med("mdserver", "p99") / med("hello", "p99")).toFixed(2)}, ` +
      `bare CPU / mdserver CPU per request ${(med("hello", "cpuUs") / med("mdserver", "cpuUs")).toFixed(2)}`,
  );
}

async function storm() {
  const n = 1000;
  console.log(
    `\n## Boot storm: ${n} clients from distinct 127.1.x.y addresses, each cloud-init's full crawl (IMDSv2)`,
  );
  const md = await mdserver(8282, n + 1);
  const started = performance.now();
  let requests = 0;
  let errors = 0;
  let wrong = 0;
  let own = 0;
  const durations: number[] = [];
  await Promise.all(
    Array.from({ length: n }, async (_, k) => {
      const agent = new Agent({ keepAlive: true, localAddress: clientAddress(k + 1) } as never);
      const t0 = performance.now();
      try {
        const got = await cloudInitCrawl(agent, 8282);
        requests += got.requests;
        // The identity this VM must get: its own instance-id (from its name's UUID) and hostname.
        const id = instanceIdFromUuid(uuidFromName(`vm${k + 1}`));
        if (got.instanceId === id && got.documentId === id && got.hostname === `host-${k + 1}`) {
          own++;
        } else {
          wrong++;
          if (wrong <= 3) console.log(`vm${k + 1} got ${JSON.stringify(got)}`);
        }
      } catch (err) {
        errors++;
        if (errors <= 3) console.log(`error: ${(err as Error).message}`);
      }
      durations.push(performance.now() - t0);
      agent.destroy();
    }),
  );
  const wall = (performance.now() - started) / 1000;
  console.log(
    `crawls: ${n}, requests: ${requests}, errors: ${errors}, ` +
      `own identity (instance-id, document, hostname): ${own}, another's or none: ${wrong}, wall: ${wall.toFixed(2)} s, ` +
      `${Math.round(requests / wall)} req/s, crawl p50 ${Math.round(median(durations))} ms, ` +
      `p99 ${Math.round([...durations].sort((a, b) => a - b)[Math.floor(n * 0.99)] ?? 0)} ms, RSS ${rssMiB(md)} MiB`,
  );
  await stop(md);
}

async function inventorySize() {
  console.log(
    `\n## Inventory size: same request, 10 vs 10,000 instances (50 connections, ${DURATION} s)`,
  );
  console.log("| instances | req/s | p50 ms | p99 ms | RSS MiB |\n|---|---|---|---|---|");
  for (const n of [10, 10_000]) {
    const md = await mdserver(8283, n);
    // Every instance's tree gets built once before the measurement, as after a boot storm.
    const agent = new Agent({ keepAlive: true });
    await fetchFrom(agent, 8283, PATH);
    const r = await load(8283, 50);
    console.log(`| ${n} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${rssMiB(md)} |`);
    agent.destroy();
    await stop(md);
  }
}

try {
  console.log(`node ${process.version}, ${new Date().toISOString()}`);
  if (ONLY.includes("throughput")) await throughput();
  if (ONLY.includes("storm")) await storm();
  if (ONLY.includes("inventory")) await inventorySize();
} finally {
  for (const c of children) c.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
