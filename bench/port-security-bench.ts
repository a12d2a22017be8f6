// Port security's cost on the data path (not a test). Run as root from the repository root:
//   npm run bench:portsec
// VM namespaces plugged in with `vmctl port attach` on the fabric test topology; iperf3 one
// stream VM↔VM, same host and cross host, alternating runs with vmctl's port security table
// in place and with it deleted (no filtering), so both see the same machine load. Removes all.
import { execFile, spawn } from "node:child_process";
import { resolve } from "node:path";
import { inNs } from "../test/helpers/md-netns.js";
import { FabricLab } from "../test/helpers/netns-fabric.js";
import { PORTSEC_TABLE } from "../vmctl/net/port-security-rules.js";

const MAIN = resolve("dist", "vmctl", "main.js");
const lab = new FabricLab();
const SECONDS = 4;
const ROUNDS = 3;

function vmctl(...args: string[]): Promise<void> {
  const argv = [MAIN, "--cluster", lab.clusterFile, "--state-dir", lab.stateDir, ...args];
  return new Promise((res, rej) =>
    execFile(process.execPath, argv, { encoding: "utf8" }, (err, _out, stderr) =>
      err ? rej(new Error(`vmctl ${args.join(" ")}: ${stderr}`)) : res(),
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

async function main(): Promise<void> {
  lab.create();
  await vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24");
  await vmctl("host", "apply");
  await vmctl("router", "apply");
  const vms = [
    ["p1", lab.hosts.host1, "host1", "10.10.10.11", "52:54:00:cc:00:01"],
    ["p2", lab.hosts.host1, "host1", "10.10.10.12", "52:54:00:cc:00:02"],
    ["p3", lab.hosts.host2, "host2", "10.10.10.21", "52:54:00:cc:00:03"],
  ] as const;
  const ns: string[] = [];
  for (const [name, hostNs, host, addr, mac] of vms) {
    ns.push(lab.addVm(name, hostNs, `vm${name}`, `${addr}/24`, "10.10.10.1", mac));
    await vmctl(
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
    );
  }
  const [p1, p2, p3] = ns as [string, string, string];
  const runs = {
    same: { on: [] as number[], off: [] as number[] },
    cross: { on: [] as number[], off: [] as number[] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const state of ["on", "off"] as const) {
      if (state === "off")
        for (const h of Object.values(lab.hosts))
          inNs(h, "nft", ["delete", "table", "bridge", PORTSEC_TABLE]);
      else await vmctl("host", "apply");
      runs.same[state].push(await iperf(p2, "10.10.10.12", p1));
      runs.cross[state].push(await iperf(p3, "10.10.10.21", p1));
    }
  }
  const rows: string[] = [];
  for (const [path, r] of Object.entries(runs)) {
    const on = median(r.on);
    const off = median(r.off);
    rows.push(
      `| iperf3 1 stream ${SECONDS} s, ${path} host, median of ${ROUNDS} | ${on.toFixed(2)} Gbit/s | ${off.toFixed(2)} Gbit/s | ${(on / off).toFixed(3)} |`,
    );
    console.error(
      `${path}: on ${r.on.map((x) => x.toFixed(2)).join(" ")} off ${r.off.map((x) => x.toFixed(2)).join(" ")}`,
    );
  }
  console.log("| path | port security | no filtering | ratio |\n|---|---|---|---|");
  console.log(rows.join("\n"));
}

try {
  await main();
} finally {
  lab.destroy();
}
