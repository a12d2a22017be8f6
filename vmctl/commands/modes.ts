import { AppError } from "../../lib/errors.js";

/** The part of a commander command the checks read. */
interface Named {
  name(): string;
  readonly parent: Named | null;
}

/**
 * How each command treats the global --dry-run and --json (README "vmctl": the same table).
 *   plans:   --dry-run prints the commands that would change a machine and runs only reads;
 *            vmctl's store and every file stay as they are (DryRunRunner, DryRunStore).
 *   reads:   the command changes nothing, so --dry-run is an ordinary run.
 *   refused: --dry-run is refused in one line (`why` says what could not be shown).
 */
export interface Modes {
  dryRun: "plans" | "reads" | "refused";
  json: boolean;
  why?: string;
}

export const MODES: Readonly<Record<string, Modes>> = {
  "net create": { dryRun: "plans", json: true },
  "net list": { dryRun: "reads", json: true },
  "net show": { dryRun: "reads", json: true },
  "net update": { dryRun: "plans", json: false },
  "net delete": { dryRun: "plans", json: false },
  "fw allow": { dryRun: "plans", json: true },
  "fw deny": { dryRun: "plans", json: true },
  "fw list": { dryRun: "reads", json: true },
  "fw del": { dryRun: "plans", json: false },
  "fw move": { dryRun: "plans", json: false },
  "host apply": { dryRun: "plans", json: false },
  "router apply": { dryRun: "plans", json: false },
  "host list": { dryRun: "reads", json: true },
  "router list": { dryRun: "reads", json: true },
  "port attach": { dryRun: "plans", json: false },
  "port detach": { dryRun: "plans", json: false },
  routes: { dryRun: "reads", json: true },
  "sg create": { dryRun: "plans", json: false },
  "sg delete": { dryRun: "plans", json: false },
  "sg rule add": { dryRun: "plans", json: false },
  "sg rule del": { dryRun: "plans", json: false },
  "sg attach": { dryRun: "plans", json: false },
  "sg detach": { dryRun: "plans", json: false },
  "sg list": { dryRun: "reads", json: true },
  "sg show": { dryRun: "reads", json: true },
  "ipg create": { dryRun: "plans", json: false },
  "ipg add": { dryRun: "plans", json: false },
  "ipg del": { dryRun: "plans", json: false },
  "ipg delete": { dryRun: "plans", json: false },
  "ipg list": { dryRun: "reads", json: true },
  "ipg show": { dryRun: "reads", json: true },
  topology: { dryRun: "reads", json: true },
  doctor: { dryRun: "reads", json: true },
  "image import": { dryRun: "plans", json: true },
  "image pull": { dryRun: "plans", json: true },
  "image list": { dryRun: "reads", json: true },
  "image delete": { dryRun: "plans", json: false },
  create: { dryRun: "plans", json: true },
  list: { dryRun: "reads", json: true },
  show: { dryRun: "reads", json: true },
  ip: { dryRun: "reads", json: true },
  start: { dryRun: "plans", json: false },
  stop: { dryRun: "plans", json: false },
  reboot: { dryRun: "plans", json: false },
  delete: { dryRun: "plans", json: false },
  console: { dryRun: "refused", json: false, why: "it attaches a terminal" },
  ssh: { dryRun: "refused", json: false, why: "it runs a program in the guest" },
  resize: { dryRun: "plans", json: false },
  completion: { dryRun: "reads", json: false },
  "snapshot create": { dryRun: "plans", json: false },
  "snapshot list": { dryRun: "reads", json: true },
  "snapshot revert": { dryRun: "plans", json: false },
  "snapshot delete": { dryRun: "plans", json: false },
};

/** `net create` for the command object of `vmctl net create`. */
export function commandPath(command: Named): string {
  const names: string[] = [];
  for (let c: Named | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Before any action: refuses a --dry-run or --json the command cannot honour. */
export function checkModes(command: Named, g: { dryRun?: boolean; json?: boolean }): void {
  const path = commandPath(command);
  const modes = MODES[path];
  if (!modes) throw new Error(`vmctl ${path}: no --dry-run/--json declaration in modes.ts`);
  if (g.dryRun && modes.dryRun === "refused")
    throw new AppError("USAGE", `${path} does not support --dry-run (${modes.why})`);
  if (g.json && !modes.json)
    throw new AppError("USAGE", `${path} has no JSON output; run it without --json`);
}
