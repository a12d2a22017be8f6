/**
 * What cloud-init said on the guest's serial console, as libvirt logs it. Its units write to
 * journal+console, so every logged warning appears there, e.g.
 *   [   44.56] cloud-init[244]: 2026-12-03 18:26:10,022 - DataSourceEc2.py[WARNING]: Metadata ...
 * and the final stage ends with
 *   [  105.30] cloud-init[437]: Cloud-init v. 22.4.2 finished at Thu, 03 Dec 2026 ... Up 105.24 seconds
 * From cloud-init 23.4 on, each such warning or error makes `cloud-init status` "degraded done".
 */
export interface CloudInitOutcome {
  /** The final stage's "finished at" line was seen (this boot). */
  finished: boolean;
  version: string | undefined;
  /** "file.py[LEVEL]: message", in the order logged. */
  problems: string[];
}

// systemd colours its status lines; the escape character is built so no regex holds a control.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, "g");
const RUNNING = /cloud-init\[\d+\]: Cloud-init v\. (\S+) running '([\w:-]+)'/;
const FINISHED = /cloud-init\[\d+\]: Cloud-init v\. (\S+) finished at /;
const PROBLEM =
  /cloud-init\[\d+\]: (?:\S+ \S+ - )?([\w.-]+\.py\[(?:WARNING|ERROR|CRITICAL)\]: .*)$/;

/** Reads the console log of the latest boot (a reboot appends to the same log). */
export function cloudInitOutcome(consoleLog: string): CloudInitOutcome {
  const lines = consoleLog.replace(ANSI, "").split(/\r?\n/);
  // A boot's first stage is init-local, or init where init-local does not run.
  const lastStage = (stage: string) => {
    for (let i = lines.length - 1; i >= 0; i--)
      if (RUNNING.exec(lines[i] ?? "")?.[2] === stage) return i;
    return -1;
  };
  const start = Math.max(
    0,
    lastStage("init-local") >= 0 ? lastStage("init-local") : lastStage("init"),
  );
  let finished = false;
  let version: string | undefined;
  const problems: string[] = [];
  for (const l of lines.slice(start)) {
    const run = RUNNING.exec(l);
    if (run) version = run[1];
    const fin = FINISHED.exec(l);
    if (fin) {
      finished = true;
      version = fin[1];
    }
    const p = PROBLEM.exec(l);
    if (p?.[1]) problems.push(p[1].trim());
  }
  return { finished, version, problems };
}

/** One line for a finished boot: "done", or how many problems and the first. */
export function describeOutcome(o: CloudInitOutcome): string {
  if (o.version === undefined) return "unknown (no cloud-init output on the console)";
  if (!o.finished) return "running (no final message on the console yet)";
  if (o.problems.length === 0) return "done";
  const n = o.problems.length;
  return `done with ${n} warning${n === 1 ? "" : "s"}/error${n === 1 ? "" : "s"}, first: ${o.problems[0]}`;
}

/**
 * "ready" for a guest whose cloud-init finished clean (or whose console shows nothing of it);
 * a boot that logged warnings or errors is usable but "degraded", and says why.
 */
export function readyState(o: CloudInitOutcome): string {
  if (!o.finished || o.problems.length === 0) return "ready";
  return `degraded (cloud-init ${describeOutcome(o)}; see cloud-init status --long in the guest)`;
}
