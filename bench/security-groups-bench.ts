// Security groups' cost (not a test). Run as root from the repository root:
//   npm run bench:sg
// Part 1, data path: the fabric test topology, three namespace VMs plugged in with
// `vmctl port attach --sg bench` (a group of 50 rules); iperf3 one stream VM↔VM, same host and
// cross host, alternating rounds "port security + security groups in place" and "no filtering"
// (both tables deleted on both hosts), so both see the same machine load.
// Part 2, scale: a store of N ports (half per host, no devices) in 100 groups; full
// `vmctl host apply` on both hosts (from no tables), a second apply, one membership change
// (`vmctl sg attach`, cluster-wide, and its nft transaction alone per host), for N = 100 and
// N = 1,000 in the same run; and the ruleset size. Removes everything it made.
// `--scale-only` / `--data-only` run one part.
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ExecRunner } from "../lib/exec/runner.js";
import { inNs, run } from "../test/helpers/md-netns.js";
import { FabricLab } from "../test/helpers/netns-fabric.js";
import { parseCluster } from "../vmctl/net/cluster.js";
import type { Port, StoreData } from "../vmctl/net/model.js";
import { PORTSEC_TABLE } from "../vmctl/net/port-security-rules.js";
import { attachGroup } from "../vmctl/net/security-groups.js";
import { fabricMachines } from "../vmctl/net/sg-apply.js";
import { planSgNft, readSgTable, sgDesired } from "../vmctl/net/sg-nft.js";
import { SG_TABLE } from "../vmctl/net/sg-rules.js";

const MAIN = resolve("dist", "vmctl", "main.js");
const SECONDS = 4;
const ROUNDS = 3;

function vmctl(lab: FabricLab, ...args: string[]): Promise<number> {
  const argv = [MAIN, "--cluster", lab.clusterFile, "--state-dir", lab.stateDir, ...args];
  const t0 = performance.now();
  return new Promise((res, rej) =>
    execFile(process.execPath, argv, { encoding: "utf8", maxBuffer: 1 << 28 }, (err, _o, stderr) =>
      err ? rej(new Error(`vmctl ${args.join(" ")}: ${stderr}`)) : res(performance.now() - t0),
    ),
  );
}

async function iperf(serverNs: string, addr: string, clientNs: string): Promise<number> {
  const server = spawn("ip", ["netns", "exec", serverNs, "iperf3", "-s", "-1"], {
    stdio: "ignore",
  });
  await new Promise((r) => setTimeout(r, 500));
  try {
    const out = inNs(clientNs, "iperf3", ["-c", addr, "-t", String(SECONDS), "-J"], 60_000);
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function dataPath(): Promise<void> {
  const lab = new FabricLab();
  try {
    lab.create();
    const v = (...a: string[]) => vmctl(lab, ...a);
    await v("net", "create", "net1", "--subnet", "10.10.10.0/24");
    await v("host", "apply");
    await v("router", "apply");
    await v("sg", "create", "bench");
    // 48 rules iperf3 never matches, then the two it needs: 50 in all.
    for (let i = 0; i < 48; i++)
      await v(
        "sg",
        "rule",
        "add",
        "bench",
        "--ingress",
        "--proto",
        "tcp",
        "--port",
        String(10000 + i),
        "--from",
        `10.${i}.0.0/16`,
      );
    await v(
      "sg",
      "rule",
      "add",
      "bench",
      "--ingress",
      "--proto",
      "tcp",
      "--port",
      "5201",
      "--from",
      "sg:bench",
    );
    await v("sg", "rule", "add", "bench", "--egress", "--proto", "any", "--to", "0.0.0.0/0");
    const vms = [
      ["p1", lab.hosts.host1, "host1", "10.10.10.11", "52:54:00:cc:00:01"],
      ["p2", lab.hosts.host1, "host1", "10.10.10.12", "52:54:00:cc:00:02"],
      ["p3", lab.hosts.host2, "host2", "10.10.10.21", "52:54:00:cc:00:03"],
    ] as const;
    const ns: string[] = [];
    for (const [name, hostNs, host, addr, mac] of vms) {
      ns.push(lab.addVm(name, hostNs, `vm${name}`, `${addr}/24`, "10.10.10.1", mac));
      await v(
        "port",
        "attach",
        "net1",
        "--host",
        host,
        "--ip",
        addr,
        "--dev",
        `vm${name}`,
        "--mac",
        mac,
        "--sg",
        "bench",
      );
    }
    const [p1, p2, p3] = ns as [string, string, string];
    const rules = inNs(lab.hosts.host1, "nft", ["list", "chain", "bridge", SG_TABLE, "ingress"])
      .split("\n")
      .filter((l) => l.includes("comment")).length;
    const runs = {
      same: { on: [] as number[], off: [] as number[] },
      cross: { on: [] as number[], off: [] as number[] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const state of ["on", "off"] as const) {
        if (state === "off")
          for (const h of Object.values(lab.hosts))
            for (const t of [PORTSEC_TABLE, SG_TABLE])
              inNs(h, "nft", ["delete", "table", "bridge", t]);
        else await v("host", "apply");
        runs.same[state].push(await iperf(p2, "10.10.10.12", p1));
        runs.cross[state].push(await iperf(p3, "10.10.10.21", p1));
      }
    }
    console.log(`\nData path (group of 50 rules; ${rules} rules in the ingress chain)\n`);
    console.log(
      "| path | port security + security groups | no filtering | ratio |\n|---|---|---|---|",
    );
    for (const [path, r] of Object.entries(runs)) {
      const on = median(r.on);
      const off = median(r.off);
      console.log(
        `| iperf3 1 stream ${SECONDS} s, ${path} host, median of ${ROUNDS} | ${on.toFixed(2)} Gbit/s | ${off.toFixed(2)} Gbit/s | ${(on / off).toFixed(3)} |`,
      );
      console.log(
        `<!-- ${path}: on ${r.on.map((x) => x.toFixed(2)).join(" ")} off ${r.off.map((x) => x.toFixed(2)).join(" ")} -->`,
      );
    }
  } finally {
    lab.destroy();
  }
}

/** N ports (half per host) in 100 groups of two rules each; each port in two groups. */
function bigStore(base: StoreData, n: number): StoreData {
  const groups = Array.from({ length: 100 }, (_, i) => ({
    name: `g${i}`,
    rules: [
      {
        direction: "ingress" as const,
        proto: "tcp" as const,
        ports: { from: 80, to: 80 },
        peer: `sg:g${(i + 1) % 100}`,
      },
      { direction: "egress" as const, proto: "any" as const, peer: "0.0.0.0/0" },
    ],
  }));
  const ports: Port[] = Array.from({ length: n }, (_, i) => {
    const ip = `10.10.${Math.floor(i / 250) + 10}.${(i % 250) + 3}`;
    return {
      network: "net1",
      host: i % 2 ? "host2" : "host1",
      ip,
      dev: `b${i}`,
      mac: `52:54:00:dd:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
      groups: [`g${i % 100}`, `g${(i + 7) % 100}`],
    };
  });
  return { ...base, securityGroups: groups, ports };
}

async function scale(n: number): Promise<Record<string, number | string>> {
  const lab = new FabricLab();
  try {
    lab.create();
    await vmctl(lab, "net", "create", "net1", "--subnet", "10.10.0.0/16");
    const file = join(lab.stateDir, "networks.json");
    const data = bigStore(JSON.parse(readFileSync(file, "utf8")) as StoreData, n);
    writeFileSync(file, JSON.stringify(data));
    const full = await vmctl(lab, "host", "apply");
    const again = await vmctl(lab, "host", "apply");
    const startup = await vmctl(lab, "sg", "list");
    const p = data.ports[0] as Port;
    const attach = await vmctl(lab, "sg", "attach", `net1:${p.ip}`, "g50");
    // The same kind of change's nft transaction alone, per host: plan from the listing, apply.
    const cluster = parseCluster(readFileSync(lab.clusterFile, "utf8"), lab.clusterFile);
    const now = JSON.parse(readFileSync(file, "utf8")) as StoreData;
    const next = attachGroup(now, `net1:${(data.ports[1] as Port).ip}`, "g60");
    const perHost: number[] = [];
    for (const h of cluster.hosts) {
      const runner = new ExecRunner(h.target);
      const t0 = performance.now();
      const input = planSgNft(
        sgDesired(next, h.name, fabricMachines(cluster)),
        await readSgTable(runner, now),
      );
      run("ip", ["netns", "exec", lab.hosts[h.name as "host1" | "host2"], "nft", "-f", "-"], input);
      perHost.push(performance.now() - t0);
    }
    const listing = inNs(lab.hosts.host1, "nft", ["list", "table", "bridge", SG_TABLE]);
    const rules = listing.split("\n").filter((l) => l.includes('comment "vmctl:')).length;
    const sets = (listing.match(/\n\tset /g) ?? []).length;
    return {
      ports: n,
      "host apply (both hosts, from nothing)": full,
      "second host apply": again,
      "vmctl sg attach (cluster-wide)": attach,
      "vmctl startup (sg list)": startup,
      "nft plan+apply one membership change, host1": perHost[0] ?? NaN,
      "same, host2": perHost[1] ?? NaN,
      "sg table rules": rules,
      "sg table sets": sets,
      "sg table listing bytes": listing.length,
    };
  } finally {
    lab.destroy();
  }
}

async function main(): Promise<void> {
  if (process.argv.includes("--data-only")) return dataPath();
  const small = await scale(100);
  const big = await scale(1000);
  console.log("\nScale (100 groups, 2 rules each; every port in 2 groups)\n");
  console.log("| measure | 100 ports | 1,000 ports | ratio |\n|---|---|---|---|");
  for (const k of Object.keys(big)) {
    if (k === "ports") continue;
    const a = Number(small[k]);
    const b = Number(big[k]);
    const fmt = (x: number) => (k.includes("table") ? String(x) : `${x.toFixed(0)} ms`);
    console.log(`| ${k} | ${fmt(a)} | ${fmt(b)} | ${(b / a).toFixed(2)} |`);
  }
  if (!process.argv.includes("--scale-only")) await dataPath();
}

await main();
