import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./md-netns.js";

export interface TestLibvirtdOptions {
  /** false: run inside a namespace the caller made (and removes); default: create and remove it. */
  createNamespace?: boolean;
}

/**
 * A libvirtd of the test's own, inside a network namespace (guests' taps land there, with no
 * path to a real network), on a private socket: the URI carries `?socket=`. Also a virtlogd when
 * none runs: libvirt's QEMU driver sends every guest's stdio and serial log through it and
 * refuses to start a guest without it. Both ended by the PIDs this helper started, nothing else.
 * docs/libvirt.md: no systemd here, so the test starts them by hand. libvirt's QEMU driver holds
 * a machine-wide lock: one TestLibvirtd at a time per machine.
 */
export class TestLibvirtd {
  readonly dir = mkdtempSync(join(tmpdir(), "libvirtd-"));
  readonly uri = `qemu:///system?socket=${this.dir}/sock/libvirt-sock`;
  private child: ChildProcess | undefined;
  private virtlogd: ChildProcess | undefined;
  private readonly ownsNamespace: boolean;

  constructor(
    readonly ns: string,
    options: TestLibvirtdOptions = {},
  ) {
    this.ownsNamespace = options.createNamespace ?? true;
  }

  async start(): Promise<void> {
    prepareHost();
    await this.startVirtlogd();
    mkdirSync(join(this.dir, "sock"));
    const conf = join(this.dir, "libvirtd.conf");
    writeFileSync(
      conf,
      `unix_sock_dir = "${this.dir}/sock"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n`,
    );
    if (this.ownsNamespace) {
      run("ip", ["netns", "add", this.ns]);
      run("ip", ["-n", this.ns, "link", "set", "lo", "up"]);
    }
    // Domain definitions live in /etc/libvirt/qemu for any privileged libvirtd: each test's
    // libvirtd gets an empty one of its own (a bind mount in a private mount namespace), so a
    // domain another run left defined cannot claim this run's addresses. Foreground (no -d)
    // and exec all the way, so the PID we hold is libvirtd's own.
    const qemuConfig = join(this.dir, "qemu-config");
    mkdirSync(qemuConfig);
    this.child = spawn(
      "ip",
      [
        ...["netns", "exec", this.ns, "unshare", "--mount", "--propagation", "private"],
        ...["sh", "-c", 'mount --bind "$1" /etc/libvirt/qemu && exec libvirtd --config "$2"'],
        ...["sh", qemuConfig, conf],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    this.child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const deadline = Date.now() + 30_000;
    while (!existsSync(`${this.dir}/sock/libvirt-sock`)) {
      if (this.child.exitCode !== null) throw new Error(`libvirtd exited: ${stderr.trim()}`);
      if (Date.now() > deadline)
        throw new Error(`libvirtd did not open its socket in 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  virsh(...args: string[]): string {
    return run("virsh", ["-c", this.uri, ...args]);
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
    await stopChild(this.virtlogd);
    if (this.ownsNamespace) {
      try {
        run("ip", ["netns", "del", this.ns]);
      } catch {
        // never created
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Starts a virtlogd unless one already holds its machine-wide pid file. */
  private async startVirtlogd(): Promise<void> {
    if (pidFileAlive(VIRTLOGD_PID)) return;
    const child = spawn("virtlogd", [], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const deadline = Date.now() + 10_000;
    while (!(existsSync(VIRTLOGD_SOCK) && pidFileAlive(VIRTLOGD_PID))) {
      if (child.exitCode !== null) {
        // Lost a race with another virtlogd: that one serves us too.
        if (pidFileAlive(VIRTLOGD_PID)) return;
        throw new Error(`virtlogd exited: ${stderr.trim()}`);
      }
      if (Date.now() > deadline) throw new Error(`virtlogd did not start in 10 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    this.virtlogd = child;
  }
}

const VIRTLOGD_PID = "/run/virtlogd.pid";
const VIRTLOGD_SOCK = "/run/libvirt/virtlogd-sock";

function pidFileAlive(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(t);
}

/**
 * Host fixes from docs/libvirt.md: without udev /dev/kvm is root-only and libvirt re-probes QEMU
 * on every call (4-12 s); libvirt's `default` network must never autostart.
 */
function prepareHost(): void {
  if (existsSync("/dev/kvm") && (statSync("/dev/kvm").mode & 0o060) === 0) {
    run("chgrp", ["kvm", "/dev/kvm"]);
    run("chmod", ["0660", "/dev/kvm"]);
  }
  rmSync("/etc/libvirt/qemu/networks/autostart/default.xml", { force: true });
}
