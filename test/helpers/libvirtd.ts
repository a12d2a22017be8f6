import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./md-netns.js";

/**
 * A libvirtd of the test's own, inside a network namespace of its own (guests' taps land there,
 * with no path to a real network), on a private socket: the URI carries `?socket=`.
 * Ended by its PID. libvirt-here.md: no systemd here, so the test starts it by hand.
 */
export class TestLibvirtd {
  readonly dir = mkdtempSync(join(tmpdir(), "libvirtd-"));
  readonly uri = `qemu:///system?socket=${this.dir}/sock/libvirt-sock`;
  private child: ChildProcess | undefined;

  constructor(readonly ns: string) {}

  async start(): Promise<void> {
    prepareHost();
    mkdirSync(join(this.dir, "sock"));
    const conf = join(this.dir, "libvirtd.conf");
    writeFileSync(
      conf,
      `unix_sock_dir = "${this.dir}/sock"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n`,
    );
    run("ip", ["netns", "add", this.ns]);
    run("ip", ["-n", this.ns, "link", "set", "lo", "up"]);
    // Foreground (no -d) so the PID we hold is libvirtd's own.
    this.child = spawn("ip", ["netns", "exec", this.ns, "libvirtd", "--config", conf], {
      stdio: ["ignore", "ignore", "pipe"],
    });
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
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    try {
      run("ip", ["netns", "del", this.ns]);
    } catch {
      // never created
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Host fixes from libvirt-here.md: without udev /dev/kvm is root-only and libvirt re-probes QEMU
 * on every call (4-12 s); libvirt's `default` network must never autostart.
 */
function prepareHost(): void {
  if (existsSync("/dev/kvm") && (statSync("/dev/kvm").mode & 0o060) === 0) {
    run("chgrp", ["kvm", "/dev/kvm"]);
    run("chmod", ["0660", "/dev/kvm"]);
  }
  rmSync("/etc/libvirt/qemu/networks/autostart/default.xml", { force: true });
}
