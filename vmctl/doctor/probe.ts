import { CommandError, errorMessage, lastLine } from "../../lib/errors.js";
import { type Command, cmd, formatTarget, LOCAL, type Target } from "../../lib/exec/command.js";
import type { Runner, RunResult } from "../../lib/exec/runner.js";
import { isLocalUri, virshCommand } from "../../lib/virsh.js";
import { probeVirtType } from "../libvirt/virt-type.js";
import { birdPaths } from "../net/bird-config.js";
import type { HostSpec, RouterSpec } from "../net/cluster.js";
import { planMachines } from "../net/converge.js";
import type { FabricContext } from "../net/fabric.js";
import { parseSysctl } from "../net/machine-state.js";
import type { StoreData } from "../net/model.js";
import { METADATA_IP } from "../net/names.js";
import { preflight } from "../net/preflight.js";
import { parseBirdProtocols, routesReport } from "../net/routes.js";
import {
  BR_NETFILTER_SYSCTLS,
  brNetfilterFinding,
  type Finding,
  type KernelFacts,
  kernelFindings,
  parseKernelConfig,
  type Role,
  TOOLS,
  toolFinding,
} from "./checks.js";

export interface MachineReport {
  machine: string;
  role: Role;
  target: string;
  findings: Finding[];
}

/** A probe whose command may not even start (a missing tool): its failure as a result. */
async function attempt(
  run: Runner,
  c: Command,
): Promise<Omit<RunResult, "exitCode"> & { exitCode: number | undefined }> {
  try {
    return await run.probe(c);
  } catch (err) {
    if (err instanceof CommandError)
      return { stdout: "", stderr: err.stderr, exitCode: err.exitCode };
    throw err;
  }
}

async function kernelFacts(run: Runner): Promise<KernelFacts> {
  const release = (await attempt(run, cmd("uname", ["-r"]))).stdout.trim();
  let config = await attempt(run, cmd("zcat", ["/proc/config.gz"]));
  if (config.exitCode !== 0) config = await attempt(run, cmd("cat", [`/boot/config-${release}`]));
  const [modules, sys] = await Promise.all([
    attempt(run, cmd("cat", ["/proc/modules"])),
    attempt(run, cmd("ls", ["/sys/module"])),
  ]);
  const loaded = new Set([
    ...modules.stdout.split("\n").map((l) => l.split(" ")[0] ?? ""),
    ...sys.stdout.split(/\s+/),
  ]);
  loaded.delete("");
  return {
    release,
    config: config.exitCode === 0 ? parseKernelConfig(config.stdout) : undefined,
    loaded,
  };
}

/** What the planners say is missing: each absent item, fixed by that machine's apply. */
async function fabricFindings(
  ctx: FabricContext,
  data: StoreData,
  machine: string,
  role: Role,
): Promise<Finding[]> {
  const fix = role === "host" ? `vmctl host apply ${machine}` : `vmctl router apply ${machine}`;
  try {
    const [plan] = await planMachines(
      ctx,
      data,
      role === "host"
        ? { hosts: [machine], router: false }
        : { hosts: [], router: false, routers: [machine] },
    );
    const items = plan?.items ?? [];
    const absent = items.filter((i) => !i.present);
    const stale = (plan?.steps.length ?? 0) - absent.length;
    return [
      ...(absent.length === 0
        ? [
            {
              check: "fabric",
              level: "ok" as const,
              message: `all ${items.length} entries the store needs are in place`,
            },
          ]
        : []),
      ...absent.map(
        (i): Finding => ({ check: "fabric", level: "error", message: `missing: ${i.what}`, fix }),
      ),
      ...(stale > 0
        ? [
            {
              check: "fabric",
              level: "warn" as const,
              message: `${stale} entries vmctl made are no longer wanted (stale)`,
              fix,
            },
          ]
        : []),
    ];
  } catch (err) {
    return [{ check: "fabric", level: "error", message: errorMessage(err), fix }];
  }
}

/** mdserver on each vmctl bridge: a request from the bridge's own address gets any HTTP answer. */
async function mdserverFindings(run: Runner, data: StoreData): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const n of data.networks) {
    const url = `http://${METADATA_IP}/latest/meta-data/`;
    const r = await attempt(
      run,
      cmd("curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "3",
        "--interface",
        n.bridgeIp,
        url,
      ]),
    );
    const check = `mdserver ${n.bridge}`;
    if (r.exitCode === undefined || r.exitCode === 127) return out; // no curl: its tool finding says so
    const code = r.stdout.trim();
    out.push(
      r.exitCode === 0 && code !== "000"
        ? {
            check,
            level: "ok",
            message: `${METADATA_IP}:80 answers (HTTP ${code} from ${n.bridgeIp})`,
          }
        : {
            check,
            level: "error",
            message: `${METADATA_IP}:80 does not answer from ${n.bridgeIp} (curl exit ${r.exitCode}${lastLine(r.stderr) ? `: ${lastLine(r.stderr)}` : ""})`,
            fix: "start mdserver on this host (systemctl start mdserver) listening on 169.254.169.254",
          },
    );
  }
  return out;
}

/** BGP sessions from `birdc show protocols`, judged by the routes report (routing: bgp). */
async function birdFindings(ctx: FabricContext, run: Runner, machine: string, stateDir: string) {
  const r = await attempt(
    run,
    cmd("birdc", ["-s", birdPaths(stateDir).socket, "show", "protocols"]),
  );
  // BIRD not answering is the planner's "BIRD running" item already.
  if (r.exitCode !== 0) return [];
  const report = routesReport(
    ctx.cluster,
    [],
    [{ machine, protocols: parseBirdProtocols(r.stdout) }],
  );
  return [
    ...report.lines
      .filter((l) => l.endsWith(" Established"))
      .map((l): Finding => ({ check: "bgp", level: "ok", message: l })),
    ...report.problems.map(
      (p): Finding => ({
        check: "bgp",
        level: "error",
        message: p,
        fix: "vmctl doctor PEER (is its BIRD up?), then vmctl routes",
      }),
    ),
  ];
}

async function libvirtFindings(
  ctx: FabricContext,
  host: HostSpec,
  run: Runner,
): Promise<Finding[]> {
  const out: Finding[] = [];
  if (host.target.kind === "ssh" && isLocalUri(host.libvirt))
    out.push({
      check: "libvirt",
      level: "warn",
      message: `libvirt ${host.libvirt} is the libvirtd of the machine vmctl runs on (vmctl runs virsh here), not ${host.name}'s`,
      fix: `libvirt: qemu+ssh://${host.target.destination}/system in the cluster file`,
    });
  // vmctl's own virsh, as every VM command runs it.
  const v = await attempt(ctx.runnerFor(LOCAL), virshCommand(host.libvirt, ["version"]));
  out.push(
    v.exitCode === 0
      ? {
          check: "libvirt",
          level: "ok",
          message: `${host.libvirt}: ${v.stdout
            .split("\n")
            .filter((l) => /Running hypervisor|library/i.test(l))
            .map((l) => l.trim())
            .join("; ")}`,
        }
      : {
          check: "libvirt",
          level: "error",
          message: `cannot reach libvirt at ${host.libvirt}: ${lastLine(v.stderr)}`,
          fix: `start libvirtd on ${host.name}, or set libvirt: in the cluster file`,
        },
  );
  const virt = await probeVirtType(run);
  out.push(
    virt === "kvm"
      ? { check: "virtualisation", level: "ok", message: "KVM (vmx/svm and /dev/kvm)" }
      : {
          check: "virtualisation",
          level: "warn",
          message:
            "TCG: no vmx/svm CPU flag or no /dev/kvm, guests are emulated (many times slower)",
          fix: "enable VT-x/AMD-V (or nested virtualisation) and load kvm_intel or kvm_amd",
        },
  );
  return out;
}

/** Every check of one host or router, through its own target; never changes anything. */
export async function doctorMachine(
  ctx: FabricContext,
  data: StoreData,
  spec: HostSpec | RouterSpec,
  role: Role,
): Promise<MachineReport> {
  const run = ctx.runnerFor(spec.target);
  const report = (findings: Finding[]): MachineReport => ({
    machine: spec.name,
    role,
    target: formatTarget(spec.target as Target),
    findings,
  });
  try {
    await preflight(run, spec.name, []);
  } catch (err) {
    return report([
      {
        check: "reach",
        level: "error",
        message: errorMessage(err),
        fix: "check its target: in the cluster file",
      },
    ]);
  }
  const bgp = ctx.cluster.routing === "bgp";
  const tools = TOOLS.filter((t) => t.roles.includes(role) && (bgp || !t.bgp));
  const [kernel, toolResults, sysctls] = await Promise.all([
    kernelFacts(run),
    Promise.all(tools.map((t) => attempt(run, cmd(t.name, t.args)).then((r) => toolFinding(t, r)))),
    attempt(run, cmd("sysctl", ["-e", ...BR_NETFILTER_SYSCTLS])),
  ]);
  const findings = [
    ...kernelFindings(role, kernel),
    ...(role === "host" ? [brNetfilterFinding(parseSysctl(sysctls.stdout))] : []),
    ...toolResults,
    ...(await fabricFindings(ctx, data, spec.name, role)),
  ];
  if (role === "host") {
    findings.push(...(await libvirtFindings(ctx, spec as HostSpec, run)));
    findings.push(...(await mdserverFindings(run, data)));
  }
  if (bgp) findings.push(...(await birdFindings(ctx, run, spec.name, spec.stateDir)));
  return report(findings);
}
