import { AppError } from "../../lib/errors.js";
import { type CliDeps, fabricContext } from "../context.js";
import type { Finding } from "../doctor/checks.js";
import { doctorMachine, type MachineReport } from "../doctor/probe.js";
import type { Parent } from "../program.js";

const LEVEL: Record<Finding["level"], string> = { ok: "ok", warn: "WARN", error: "ERROR" };

/** Pure: the report as text, one block per machine, each problem with its fix under it. */
export function doctorText(reports: MachineReport[]): string[] {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(`${r.role} ${r.machine} [${r.target}]`);
    for (const f of r.findings) {
      lines.push(`  ${LEVEL[f.level].padEnd(5)} ${f.check}: ${f.message}`);
      if (f.fix && f.level !== "ok") lines.push(`        fix: ${f.fix}`);
    }
  }
  return lines;
}

export function registerDoctor(program: Parent, deps: CliDeps): void {
  program
    .command("doctor")
    .description(
      "check hosts and routers: kernel, tools, the fabric's entries, libvirt, KVM, mdserver, BIRD",
    )
    .argument("[machine]", "a host or router of the cluster file (default: all)")
    .action(async (name, _o, self) => {
      const { dryRun: _, ...g } = self.optsWithGlobals();
      const ctx = fabricContext(deps, g);
      const { cluster } = ctx;
      const machines = [
        ...cluster.hosts.map((spec) => ({ spec, role: "host" as const })),
        ...cluster.routers.map((spec) => ({ spec, role: "router" as const })),
      ].filter((m) => name === undefined || m.spec.name === name);
      if (machines.length === 0)
        throw new AppError(
          "NOT_FOUND",
          `no host or router named ${name} in the cluster file (${[...cluster.hosts, ...cluster.routers].map((m) => m.name).join(", ")})`,
        );
      const data = ctx.store.read();
      const reports = await Promise.all(
        machines.map((m) => doctorMachine(ctx, data, m.spec, m.role)),
      );
      const all = reports.flatMap((r) => r.findings);
      const errors = all.filter((f) => f.level === "error").length;
      const warnings = all.filter((f) => f.level === "warn").length;
      if (g.json) deps.stdout(JSON.stringify({ machines: reports, errors, warnings }));
      else for (const l of doctorText(reports)) deps.stdout(l);
      if (errors > 0)
        throw new AppError("DOCTOR", `${errors} error(s) and ${warnings} warning(s), listed above`);
      if (!g.json) deps.stdout(`no errors, ${warnings} warning(s)`);
    });
}
