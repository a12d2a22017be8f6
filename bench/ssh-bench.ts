// ssh targets vs netns targets (not a test). Run as root, from the repository root:
//   npm run bench:ssh          (= npm run build && node dist/bench/ssh-bench.js)
// Builds the namespace topology of test/integration/fabric-ssh.test.ts (real sshd in every
// machine, vmctl in an admin namespace on the LAN) and removes it. Every vmctl run is the
// built CLI, from the admin namespace, for each way of reaching the machines, interleaved
// round by round so load on the shared machine hits every variant alike.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FabricLab } from "../test/helpers/netns-fabric.js";
import { SshLab } from "../test/helpers/ssh-lab.js";

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const lab = new FabricLab();
const ssh = new SshLab(lab);
const netnsCluster = join(lab.dir, "cluster-netns.yaml");
let cold = 0;

interface Variant {
  name: string;
  cluster: () => string;
  env: () => NodeJS.ProcessEnv;
}

const variants: Variant[] = [
  { name: "netns: targets", cluster: () => netnsCluster, env: () => process.env },
  {
    name: "ssh:, reuse, master from an earlier run (within ControlPersist)",
    cluster: () => lab.clusterFile,
    env: () => ssh.env(),
  },
  {
    name: "ssh:, reuse, no master yet (one handshake per machine)",
    cluster: () => lab.clusterFile,
    env: () => ssh.env({ controlDir: join(ssh.dir, `cold-${++cold}`) }),
  },
  {
    name: "ssh:, no reuse (VMCTL_SSH_CONTROL_DIR=none)",
    cluster: () => lab.clusterFile,
    env: () => ssh.env({ controlDir: "none" }),
  },
];

/** One vmctl run's wall time in ms (Node start-up included, as the admin sees it). */
async function timed(v: Variant, args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await ssh.vmctl(["--cluster", v.cluster(), ...args], v.env());
  const t = performance.now() - t0;
  if (r.code !== 0) throw new Error(`${v.name}: vmctl ${args.join(" ")}: ${r.stderr}`);
  return t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const OPS: { name: string; run: (v: Variant) => Promise<number> }[] = [
  {
    // What a create does to the fabric: port security, the host /32 and the router /32, over
    // two machines (host1 and the router), preflight of both first; then the undo.
    name: "port attach + port detach",
    run: async (v) =>
      (await timed(v, [
        ...["port", "attach", "net1", "--host", "host1", "--ip", "10.30.0.20"],
        ...["--dev", "bp0", "--mac", "52:54:00:30:00:20"],
      ])) + (await timed(v, ["port", "detach", "net1", "--ip", "10.30.0.20"])),
  },
  {
    // Reads every table of both hosts and finds nothing to do.
    name: "host apply, nothing to do (2 hosts)",
    run: (v) => timed(v, ["host", "apply"]),
  },
];

async function main(): Promise<void> {
  lab.create();
  await ssh.start();
  copyFileSync(lab.clusterFile, netnsCluster);
  ssh.useSshTargets();
  const v0 = variants[0] as Variant;
  await timed(v0, ["net", "create", "net1", "--subnet", "10.30.0.0/24"]);
  await timed(v0, ["host", "apply"]);
  await timed(v0, ["router", "apply"]);
  lab.addVm("b", lab.hosts.host1, "bp0", "10.30.0.20/24", "10.30.0.1", "52:54:00:30:00:20");
  // Warm the persistent master (and every variant once) before measuring.
  for (const v of variants) await OPS[1]?.run(v);
  const times = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const op of OPS) {
      for (const v of variants) {
        const key = `${op.name}|${v.name}`;
        times.set(key, [...(times.get(key) ?? []), await op.run(v)]);
      }
    }
  }
  const lines = [
    `| operation | targets | median of ${ROUNDS} (ms) | ratio to netns: |`,
    "|---|---|---|---|",
  ];
  for (const op of OPS) {
    const base = median(times.get(`${op.name}|${v0.name}`) ?? []);
    for (const v of variants) {
      const m = median(times.get(`${op.name}|${v.name}`) ?? []);
      lines.push(`| ${op.name} | ${v.name} | ${m.toFixed(0)} | ${(m / base).toFixed(2)} |`);
    }
  }
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  lines.push("", `load average at the end: ${load}`);
  console.log(lines.join("\n"));
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${lines.join("\n")}\n`);
}

try {
  await main();
} finally {
  for (let i = 1; i <= cold; i++) ssh.closeMasters(join(ssh.dir, `cold-${i}`));
  await ssh.stop();
  lab.destroy();
}
