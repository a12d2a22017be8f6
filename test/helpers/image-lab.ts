import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A scratch directory with a vmctl state-dir and a cluster whose one host is this machine with
 * libvirt's test driver (no daemon: `vmctl image delete` asks it which VMs use an image).
 * Removed by `remove()`.
 */
export class ImageLab {
  readonly dir = mkdtempSync(join(tmpdir(), "vmctl-image-"));
  readonly stateDir = join(this.dir, "state");
  readonly clusterFile = join(this.dir, "cluster.yaml");

  constructor() {
    writeFileSync(
      this.clusterFile,
      `hosts:\n  - {name: host1, address: 198.18.0.11, lan: eth0, target: local, libvirt: "test:///default", state-dir: ${this.dir}/host1}\nrouter: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0, target: local}\n`,
    );
  }

  /** The built CLI (dist/vmctl/main.js), optionally inside a network namespace. */
  vmctl(args: string[], ns?: string): Promise<CliResult> {
    const argv = [
      "dist/vmctl/main.js",
      "--cluster",
      this.clusterFile,
      "--state-dir",
      this.stateDir,
      ...args,
    ];
    const [file, all] = ns
      ? ["ip", ["netns", "exec", ns, process.execPath, ...argv]]
      : [process.execPath, argv];
    return new Promise((resolve) => {
      execFile(file, all, { encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Every path under the state-dir with its mode, owner and size: what a command changed. */
  tree(): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
      let names: string[];
      try {
        names = readdirSync(dir).sort();
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(dir, n);
        const s = statSync(p);
        out.push(
          `${p.slice(this.dir.length)} ${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} ${s.size}`,
        );
        if (s.isDirectory()) walk(p);
      }
    };
    walk(this.stateDir);
    return out;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
}

/**
 * A real GPT disk image like a vendor cloud image's layout (BIOS boot partition, ESP, root),
 * made with sgdisk on a sparse file: no loop device needed. Returns the raw file's path.
 */
export function gptDisk(
  dir: string,
  name: string,
  parts: "bios+uefi" | "uefi" = "bios+uefi",
): string {
  const raw = join(dir, name);
  sh("truncate", ["-s", "64M", raw]);
  const bios = parts === "bios+uefi" ? ["-n1:2048:+1M", "-t1:ef02"] : [];
  sh("sgdisk", [...bios, "-n2:0:+20M", "-t2:ef00", "-n3:0:0", "-t3:8300", raw]);
  // Some data in the root partition, so a copy can be told from an empty disk.
  sh("dd", [
    "if=/dev/urandom",
    `of=${raw}`,
    "bs=1M",
    "seek=30",
    "count=2",
    "conv=notrunc",
    "status=none",
  ]);
  return raw;
}

/**
 * test/helpers/image-http-server.mjs inside a network namespace of this run's own (loopback
 * only: no path to any real network); vmctl runs in the same namespace to reach it.
 */
export class ImageServer {
  readonly ns = `img${process.pid % 10000}${randomBytes(2).toString("hex")}`;
  readonly port = 8080;
  readonly base = `http://127.0.0.1:${this.port}`;
  private child: ChildProcess | undefined;

  constructor(
    readonly root: string,
    readonly log: string,
  ) {}

  async start(): Promise<void> {
    sh("ip", ["netns", "add", this.ns]);
    sh("ip", ["-n", this.ns, "link", "set", "lo", "up"]);
    const script = join(import.meta.dirname, "image-http-server.mjs");
    const args = [
      "netns",
      "exec",
      this.ns,
      process.execPath,
      script,
      this.root,
      String(this.port),
      this.log,
    ];
    const child = spawn("ip", args, { stdio: ["ignore", "pipe", "inherit"] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`image server exited ${code}`)));
    });
  }

  /** The paths and Range headers the server saw, in order. */
  requests(): { path: string; range: string | null }[] {
    if (!existsSync(this.log)) return [];
    return readFileSync(this.log, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    }
    try {
      sh("ip", ["netns", "del", this.ns]);
    } catch {
      // never created
    }
  }
}
