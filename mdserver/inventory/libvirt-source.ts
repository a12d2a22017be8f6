import { errorMessage } from "../../lib/errors.js";
import type { LineStream, Runner } from "../../lib/exec/runner.js";
import type { Instance } from "../../lib/instance.js";
import { instanceFromDomainXml } from "../../lib/metadata-xml.js";
import { splitDomainXml, virshCommand, virshConnect } from "../../lib/virsh.js";
import type { Logger } from "../log.js";
import type { Inventory } from "./inventory.js";

export interface LibvirtSourceDeps {
  runner: Runner;
  /** Starts `virsh event --all --loop` (or a stand-in) and feeds its lines. */
  streamEvents: (args: string[], onLine: (line: string) => void) => LineStream;
  inventory: Inventory;
  log: Logger;
  uri: string | undefined;
  reconcileMs: number;
}

/** What --status and /metrics report about the libvirt follower. */
export interface LibvirtStats {
  events: number;
  lastEvent: { time: string; domain: string; kind: string; detail: string } | undefined;
  streamRestarts: number;
  lastReconcile: { time: string; ok: boolean; error?: string } | undefined;
}

const BATCH = 100;
const RESTART_MS = 1000;

/** `event 'lifecycle' for domain 'web1': Undefined Removed` (with --timestamp: prefixed by a date). */
export function parseEventLine(
  line: string,
): { domain: string; kind: string; detail: string } | undefined {
  const m = /event '([^']+)' for domain '(.*)': ?(.*)$/.exec(line);
  if (!m) return undefined;
  return { kind: m[1] as string, domain: m[2] as string, detail: m[3] as string };
}

/**
 * Keeps the inventory equal to libvirt's domains: a full load at start, then libvirt's event
 * stream (a define, change or undefine lands within milliseconds), plus a periodic reconcile
 * that repairs anything an event stream restart missed. Requests never wait on virsh.
 */
export class LibvirtSource {
  private events: LineStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private pending = Promise.resolve();
  readonly stats: LibvirtStats = {
    events: 0,
    lastEvent: undefined,
    streamRestarts: 0,
    lastReconcile: undefined,
  };

  constructor(private readonly deps: LibvirtSourceDeps) {}

  private virsh(args: string[]) {
    return virshCommand(this.deps.uri, args);
  }

  async start(): Promise<void> {
    this.followEvents();
    // libvirtd down at start is not fatal: the periodic reconcile and the event restart catch up.
    await this.queue(() => this.reconcileNoted());
    this.timer = setInterval(() => this.queue(() => this.reconcileNoted()), this.deps.reconcileMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.events?.stop();
  }

  /** Serialises updates so a slow reconcile cannot overwrite a newer event's result. */
  private queue(job: () => Promise<void>): Promise<void> {
    this.pending = this.pending.then(job).catch((err) => {
      this.deps.log.log("warn", "libvirt inventory update failed", { error: errorMessage(err) });
    });
    return this.pending;
  }

  /** reconcile(), with its outcome kept for --status (the queue logs a failure). */
  private async reconcileNoted(): Promise<void> {
    const time = new Date().toISOString();
    try {
      await this.reconcile();
      this.stats.lastReconcile = { time, ok: true };
    } catch (err) {
      this.stats.lastReconcile = { time, ok: false, error: errorMessage(err) };
      throw err;
    }
  }

  async reconcile(): Promise<void> {
    const { stdout } = await this.deps.runner.run(this.virsh(["list", "--all", "--uuid"]));
    const uuids = stdout
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
    const instances: Instance[] = [];
    for (let i = 0; i < uuids.length; i += BATCH) {
      instances.push(...(await this.load(uuids.slice(i, i + BATCH))));
    }
    this.deps.inventory.replaceAll("libvirt", instances);
    this.deps.inventory.warnConflicts(this.deps.log);
  }

  /** One virsh process for a batch of domains (`dumpxml A; dumpxml B`); one by one on error. */
  private async load(ids: string[]): Promise<Instance[]> {
    const batch = await this.deps.runner.probe(
      this.virsh([ids.map((id) => `dumpxml ${id}`).join("; ")]),
    );
    if (batch.exitCode === 0) return parseDomains(batch.stdout);
    const out: Instance[] = [];
    for (const id of ids) {
      const one = await this.deps.runner.probe(this.virsh(["dumpxml", id]));
      if (one.exitCode === 0) out.push(...parseDomains(one.stdout));
    }
    return out;
  }

  private async refresh(name: string): Promise<void> {
    const r = await this.deps.runner.probe(this.virsh(["dumpxml", "--", name]));
    const inst = r.exitCode === 0 ? parseDomains(r.stdout)[0] : undefined;
    if (inst) {
      this.deps.inventory.upsert(inst);
      this.deps.inventory.warnConflicts(this.deps.log);
    } else this.deps.inventory.remove("libvirt", name);
  }

  private followEvents(): void {
    if (this.stopped) return;
    this.events = this.deps.streamEvents(
      [...virshConnect(this.deps.uri), "event", "--all", "--loop"],
      (line) => {
        const ev = parseEventLine(line);
        if (!ev) return;
        this.stats.events++;
        this.stats.lastEvent = { time: new Date().toISOString(), ...ev };
        if (ev.kind === "lifecycle" && ev.detail.startsWith("Undefined")) {
          this.queue(async () => {
            this.deps.inventory.remove("libvirt", ev.domain);
          });
        } else {
          this.queue(() => this.refresh(ev.domain));
        }
      },
    );
    this.events.done.then((code) => {
      if (this.stopped) return;
      // libvirtd restarted or the stream died: follow again, and catch up on what was missed.
      this.deps.log.log("warn", "libvirt event stream ended; restarting", { exitCode: code });
      this.stats.streamRestarts++;
      setTimeout(() => {
        this.followEvents();
        this.queue(() => this.reconcileNoted());
      }, RESTART_MS).unref();
    });
  }
}

function parseDomains(stdout: string): Instance[] {
  return splitDomainXml(stdout).flatMap((doc) => instanceFromDomainXml(doc) ?? []);
}
