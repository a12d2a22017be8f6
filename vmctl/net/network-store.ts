import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { AppError } from "../../lib/errors.js";
import { EMPTY_STORE, type StoreData } from "./model.js";

/**
 * vmctl's networks and ports live in one JSON file in the state directory (default
 * /var/lib/vmctl/networks.json) on the machine where vmctl runs — the one place every vmctl
 * invocation reads, so `net create` in one shell and `host apply` in another agree. Hosts and
 * the router are only ever programmed from it; they hold no copy.
 *
 * Writes go to a temporary file that is then renamed over the old one: a crash or a full disk
 * leaves either the old or the new file, never half of one. Read-modify-write cycles hold an
 * O_EXCL lock file, so two concurrent invocations cannot both allocate table 101 or lose each
 * other's port records.
 */
export class NetworkStore {
  readonly file: string;
  private readonly lockFile: string;

  constructor(
    readonly dir: string,
    private readonly lockTimeoutMs = 10_000,
  ) {
    this.file = join(dir, "networks.json");
    this.lockFile = join(dir, "networks.lock");
  }

  read(): StoreData {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return structuredClone(EMPTY_STORE);
      throw new AppError("STORE", `cannot read ${this.file}: ${(err as Error).message}`);
    }
    try {
      const data = JSON.parse(text) as StoreData;
      if (data.version !== 1 || !Array.isArray(data.networks) || !Array.isArray(data.ports))
        throw new Error("unexpected structure");
      // Stores written before IP and security groups have neither list.
      return { ...data, ipGroups: data.ipGroups ?? [], securityGroups: data.securityGroups ?? [] };
    } catch (err) {
      throw new AppError("STORE", `${this.file} is corrupt: ${(err as Error).message}`);
    }
  }

  /** Runs `fn` under the lock; whatever it returns is written atomically (undefined = no change). */
  async update<T>(fn: (data: StoreData) => Promise<{ data?: StoreData; result: T }>): Promise<T> {
    mkdirSync(this.dir, { recursive: true });
    await this.lock();
    try {
      const { data, result } = await fn(this.read());
      if (data) this.write(data);
      return result;
    } finally {
      unlinkSync(this.lockFile);
    }
  }

  private write(data: StoreData): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o644);
    try {
      writeSync(fd, `${JSON.stringify(data, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        const fd = openSync(this.lockFile, "wx", 0o644);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      if (this.removeIfStale()) continue;
      if (Date.now() > deadline)
        throw new AppError("LOCKED", `${this.lockFile} is held by another vmctl; try again`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A lock left by a process that no longer exists (killed vmctl) is removed. */
  private removeIfStale(): boolean {
    let pid: number;
    try {
      pid = Number(readFileSync(this.lockFile, "utf8").trim());
    } catch {
      return true;
    }
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") return false;
      try {
        unlinkSync(this.lockFile);
      } catch {
        // another waiter removed it first
      }
      return true;
    }
  }
}

/**
 * --dry-run: `update` computes what it would write and throws it away. No lock file, no state
 * directory created: a dry run leaves vmctl's own files exactly as they were.
 */
export class DryRunStore extends NetworkStore {
  override async update<T>(
    fn: (data: StoreData) => Promise<{ data?: StoreData; result: T }>,
  ): Promise<T> {
    return (await fn(this.read())).result;
  }
}
