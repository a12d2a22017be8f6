import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { type BootRecord, bootRecordPath, parseBootRecord } from "../lib/boot-record.js";
import type { Instance } from "../lib/instance.js";
import type { Logger } from "./log.js";

/**
 * Records boot progress for vmctl, off the request path: a request only checks an in-memory set;
 * the file is written once per instance (first request) and once per phone_home.
 */
export class BootRecordStore {
  private readonly seen = new Set<string>();
  private warned = false;
  /** Updates run one after another: each is a read-modify-write of the same file. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string | undefined,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  pathFor(uuid: string): string {
    return bootRecordPath(this.dir ?? "", uuid);
  }

  noteRequest(inst: Instance): void {
    if (!this.dir || this.seen.has(inst.uuid)) return;
    this.seen.add(inst.uuid);
    const time = this.now().toISOString();
    void this.update(inst, (s) => (s.firstRequest ? s : { ...s, firstRequest: time }));
  }

  notePhoneHome(inst: Instance, form: URLSearchParams): Promise<void> {
    const value = (k: string) => {
      const v = form.get(k)?.trim();
      return v && v !== "N/A" ? v : undefined;
    };
    const hostKeys: Record<string, string> = {};
    for (const type of ["ed25519", "ecdsa", "rsa"]) {
      const key = value(`pub_key_${type}`);
      if (key) hostKeys[type] = key;
    }
    const phoneHome = {
      time: this.now().toISOString(),
      ...optional("hostname", value("hostname")),
      ...optional("fqdn", value("fqdn")),
      hostKeys,
    };
    return this.update(inst, (s) => ({ ...s, phoneHome }));
  }

  /** Resolves once every record write queued so far is on disk (or has failed and warned). */
  settled(): Promise<void> {
    return this.chain;
  }

  async read(uuid: string): Promise<BootRecord | undefined> {
    return parseBootRecord(await readFile(this.pathFor(uuid), "utf8").catch(() => undefined));
  }

  private update(inst: Instance, change: (s: BootRecord) => BootRecord): Promise<void> {
    this.chain = this.chain.then(() => this.write(inst, change));
    return this.chain;
  }

  private async write(inst: Instance, change: (s: BootRecord) => BootRecord): Promise<void> {
    if (!this.dir) return;
    try {
      const old = (await this.read(inst.uuid)) ?? { name: inst.name, instanceId: inst.instanceId };
      const next = change({ ...old, name: inst.name, instanceId: inst.instanceId });
      const path = this.pathFor(inst.uuid);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(`${path}.tmp`, `${JSON.stringify(next, null, 2)}\n`);
      await rename(`${path}.tmp`, path);
    } catch (err) {
      if (!this.warned) {
        this.warned = true;
        this.log.log("warn", "cannot write instance state", { dir: this.dir, error: String(err) });
      }
    }
  }
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
