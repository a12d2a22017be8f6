// Fabric benchmarks (not tests). Run as root:
//   npm run build && npx tsc -p tsconfig.json --outDir .cache/bench &&
//   node .cache/bench/bench/fabric-bench.js      (from the repository root)
// Builds the same namespace topology as test/integration/fabric-netns.test.ts and removes it.
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Target } from "../lib/exec/command.js";
import { ExecRunner } from "../lib/exec/runner.js";
import { inNs, ip, run } from "../test/helpers/md-netns.js";
import { FabricLab } from "../test/helpers/netns-fabric.js";
import { parseCluster } from "../vmctl/net/cluster.js";
import { converge } from "../vmctl/net/converge.js";
import type { FabricContext } from "../vmctl/net/fabric.js";
import { NetworkStore } from "../vmctl/net/network-store.js";
import { attachPort } from "../vmctl/net/port.js";

// The CLI as installed by `npm run build`, relative to the repository root (run from there).
const MAIN = resolve("dist", "vmctl", "main.js");
const lab = new FabricLab();
const results: [string, string][] = [];

function vmctl(...args: string[]): Promise<number> {
  const t0 = performance.now();
  const argv = [MAIN, "--cluster", lab.clusterFile, "--state-dir", lab.stateDir, ...args];
  return new Promise((res, rej) =>
    execFile(process.execPath, argv, { encoding: "utf8" }, (err, _out, stderr) =>
      err ? rej(new Error(`vmctl ${args.join(" ")}: ${stderr}`)) : res(performance.now() - t0),
    ),
  );
}

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const record = (what: string, value: string) => {
  results.push([what, value]);
  console.error(`${what}: ${value}`);
};

function pingAvg(ns: string, addr: string): number {
  const out = inNs(ns, "ping", ["-n", "-q", "-c", "200", "-i", "0.005", addr]);
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  return Number(m?.[1]);
}

async function iperf(serverNs: string, addr: string, clientNs: string): Promise<number> {
  const server = spawn("ip", ["netns", "exec", serverNs, "iperf3", "-s", "-1"], {
    stdio: "ignore",
  });
  await new Promise((r) => setTimeout(r, 500));
  const out = inNs(clientNs, "iperf3", ["-c", addr, "-t", "5", "-J"], 60_000);
  server.kill();
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

async function main(): Promise<void> {
  lab.create();
  await vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
  await vmctl("net", "create", "net2", "--subnet", "10.20.20.0/24");
  record(
    "host apply, fresh host, 2 networks (CLI wall time)",
    ms(await vmctl("host", "apply", "host1")),
  );
  record(
    "host apply, second fresh host (CLI wall time)",
    ms(await vmctl("host", "apply", "host2")),
  );
  record("router apply, fresh (CLI wall time)", ms(await vmctl("router", "apply")));
  const noop: number[] = [];
  for (let i = 0; i < 5; i++) noop.push(await vmctl("host", "apply", "host1"));
  record("host apply, nothing to do, median of 5 (CLI wall time)", ms(median(noop)));

  // Per-VM attach, in-process (no node start-up): host /32 + enslave + up + router /32.
  const c = ctx();
  const attach: number[] = [];
  const vms: string[] = [];
  for (let i = 0; i < 10; i++) {
    const host = i % 2 === 0 ? lab.hosts.host1 : lab.hosts.host2;
    const addr = `10.10.10.${30 + i}`;
    vms.push(
      lab.addVm(
        `b${i}`,
        host,
        `bvm${i}`,
        `${addr}/24`,
        "10.10.10.1",
        `52:54:00:aa:00:${(10 + i).toString(16)}`,
      ),
    );
    const t0 = performance.now();
    await attachPort(c, {
      network: "net1",
      host: i % 2 === 0 ? "host1" : "host2",
      ip: addr,
      dev: `bvm${i}`,
      mac: `52:54:00:aa:00:${(10 + i).toString(16)}`,
    });
    attach.push(performance.now() - t0);
  }
  record("per-VM attach, median of 10 (in-process, 4 commands on 2 machines)", ms(median(attach)));
  const cliAttach: number[] = [];
  for (let i = 10; i < 13; i++) {
    const addr = `10.10.10.${30 + i}`;
    lab.addVm(
      `b${i}`,
      lab.hosts.host2,
      `bvm${i}`,
      `${addr}/24`,
      "10.10.10.1",
      `52:54:00:aa:00:${(10 + i).toString(16)}`,
    );
    cliAttach.push(
      await vmctl(
        "port",
        "attach",
        "net1",
        "--host",
        "host2",
        "--ip",
        addr,
        "--dev",
        `bvm${i}`,
        "--mac",
        `52:54:00:aa:00:${(10 + i).toString(16)}`,
      ),
    );
  }
  record("per-VM attach, median of 3 (CLI wall time incl. node start-up)", ms(median(cliAttach)));

  // New VM reachable from the other host: attach, then ping from a host1 VM until it answers.
  const reach: number[] = [];
  for (let i = 13; i < 18; i++) {
    const addr = `10.10.10.${30 + i}`;
    lab.addVm(
      `b${i}`,
      lab.hosts.host2,
      `bvm${i}`,
      `${addr}/24`,
      "10.10.10.1",
      `52:54:00:aa:00:${(10 + i).toString(16)}`,
    );
    const mac = `52:54:00:aa:00:${(10 + i).toString(16)}`;
    await attachPort(c, { network: "net1", host: "host2", ip: addr, dev: `bvm${i}`, mac });
    const t0 = performance.now();
    for (;;) {
      try {
        inNs(vms[0] ?? "", "ping", ["-n", "-c1", "-W1", addr], 5000);
        break;
      } catch {
        if (performance.now() - t0 > 3000) throw new Error(`${addr} unreachable`);
      }
    }
    reach.push(performance.now() - t0);
  }
  record(
    "new VM answers ping from the other host after attach, median of 5 (incl. ping spawn)",
    ms(median(reach)),
  );

  // vms[0], vms[2] are on host1; vms[1] on host2.
  record(
    "ping RTT same host (avg of 200)",
    `${pingAvg(vms[0] ?? "", "10.10.10.32").toFixed(3)} ms`,
  );
  record(
    "ping RTT cross host (avg of 200)",
    `${pingAvg(vms[0] ?? "", "10.10.10.31").toFixed(3)} ms`,
  );

  // Plain L2 baseline: two VM namespaces on bridges in two "host" namespaces joined by the LAN bridge.
  for (const n of ["l1", "l2"]) {
    const hostNs = `${lab.id}-${n}h`;
    run("ip", ["netns", "add", hostNs]);
    ip(hostNs, "link", "add", "br0", "type", "bridge");
    ip(hostNs, "link", "set", "br0", "up");
    run("ip", [
      "link",
      "add",
      `${n}up`,
      "netns",
      lab.lan,
      "type",
      "veth",
      "peer",
      "up0",
      "netns",
      hostNs,
    ]);
    ip(lab.lan, "link", "set", `${n}up`, "master", "lan0", "up");
    ip(hostNs, "link", "set", "up0", "master", "br0", "up");
    lab.addVm(
      `${n}vm`,
      hostNs,
      "vm0",
      n === "l1" ? "192.0.2.1/24" : "192.0.2.2/24",
      n === "l1" ? "192.0.2.2" : "192.0.2.1",
      n === "l1" ? "52:54:00:bb:00:01" : "52:54:00:bb:00:02",
    );
    ip(hostNs, "link", "set", "vm0", "master", "br0", "up");
  }
  const routed = await iperf(vms[1] ?? "", "10.10.10.31", vms[0] ?? "");
  const l2 = await iperf(`${lab.id}-l2vm`, "192.0.2.2", `${lab.id}-l1vm`);
  record("iperf3 1 stream 5 s, cross host routed (fabric)", `${routed.toFixed(2)} Gbit/s`);
  record("iperf3 1 stream 5 s, cross host plain L2 baseline", `${l2.toFixed(2)} Gbit/s`);
  record("routed / plain L2", (routed / l2).toFixed(2));
  for (const n of ["l1h", "l2h"]) run("ip", ["netns", "del", `${lab.id}-${n}`]);

  // 1,000 VM routes on the router in one router apply (ports written to the store directly;
  // a /16 network because a /24 holds only 253 VMs).
  const file = join(lab.stateDir, "networks.json");
  await vmctl("net", "create", "big", "--subnet", "10.64.0.0/16");
  const d2 = JSON.parse(readFileSync(file, "utf8")) as { ports: unknown[] };
  for (let i = 0; i < 1000; i++)
    d2.ports.push({
      network: "big",
      host: i % 2 ? "host1" : "host2",
      ip: `10.64.${Math.floor(i / 200) + 1}.${(i % 200) + 10}`,
      dev: `x${i}`,
    });
  writeFileSync(file, JSON.stringify(d2));
  const t0 = performance.now();
  await converge(c, { hosts: [], router: true });
  record(
    "router apply adding 1,000 VM /32 routes (in-process; read + plan + ip -batch)",
    ms(performance.now() - t0),
  );
  const count = ip(lab.router, "route", "show", "proto", "77")
    .split("\n")
    .filter((l) => l.startsWith("10.64.")).length;
  record("routes present afterwards", String(count));
  record(
    "router apply, same 1,000 routes again (CLI wall time, nothing to do)",
    ms(await vmctl("router", "apply")),
  );
}

try {
  await main();
  console.log(results.map(([a, b]) => `| ${a} | ${b} |`).join("\n"));
} finally {
  lab.destroy();
}
