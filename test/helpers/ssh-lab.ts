import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ip, run } from "./md-netns.js";
import type { CliResult, FabricLab } from "./netns-fabric.js";

/**
 * Real sshd in each machine namespace of a FabricLab, and an admin namespace on its LAN where
 * vmctl runs and reaches them as `ssh:root@ADDR`, the way an admin's machine does:
 *   <id>-adm : eth0 198.18.0.100 on the lab's LAN bridge
 * Each sshd has its own config, host key and authorized_keys in the lab's directory; the
 * client has a per-run key, a known_hosts with exactly those host keys and an ssh_config that
 * names both (given to vmctl as VMCTL_SSH_CONFIG: the machine's ~/.ssh is never read or
 * written). sshd is started and ended by its PID; ssh masters are closed through their sockets.
 */
export class SshLab {
  readonly admin: string;
  readonly dir: string;
  readonly key: string;
  readonly config: string;
  readonly controlDir: string;
  private readonly daemons = new Map<string, Sshd>();

  constructor(readonly lab: FabricLab) {
    this.admin = `${lab.id}-adm`;
    this.dir = join(lab.dir, "ssh");
    this.key = join(this.dir, "id_ed25519");
    this.config = join(this.dir, "ssh_config");
    this.controlDir = join(this.dir, "ctl");
  }

  /** The machines' LAN addresses (as in FabricLab's cluster file). */
  static readonly ADDRESSES = { host1: "198.18.0.11", host2: "198.18.0.12", router: "198.18.0.1" };

  async start(): Promise<void> {
    mkdirSync(this.dir, { mode: 0o700 });
    // sshd refuses to start without its privilege separation directory (the package's unit
    // makes it at boot; there is no systemd here).
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    run("ip", ["netns", "add", this.admin]);
    ip(this.admin, "link", "set", "lo", "up");
    run("ip", [
      ...["link", "add", "adm", "netns", this.lab.lan, "type", "veth"],
      ...["peer", "eth0", "netns", this.admin],
    ]);
    ip(this.lab.lan, "link", "set", "adm", "master", "lan0", "up");
    ip(this.admin, "addr", "add", "198.18.0.100/24", "dev", "eth0");
    ip(this.admin, "link", "set", "eth0", "up");
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "vmctl-test", "-f", this.key]);
    const known: string[] = [];
    const machines = {
      host1: this.lab.hosts.host1,
      host2: this.lab.hosts.host2,
      router: this.lab.router,
    };
    for (const [machine, ns] of Object.entries(machines)) {
      const address = SshLab.ADDRESSES[machine as keyof typeof SshLab.ADDRESSES];
      const d = new Sshd(ns, join(this.dir, machine), `${this.key}.pub`);
      await d.start();
      this.daemons.set(machine, d);
      known.push(`${address} ${d.hostKey()}`);
    }
    writeFileSync(join(this.dir, "known_hosts"), `${known.join("\n")}\n`);
    writeFileSync(this.config, this.clientConfig(this.key, join(this.dir, "known_hosts")));
  }

  /** An ssh_config with another key or known_hosts (to test what a refusal looks like). */
  clientConfig(key: string, knownHosts: string): string {
    return [
      `IdentityFile ${key}`,
      "IdentitiesOnly yes",
      `UserKnownHostsFile ${knownHosts}`,
      "GlobalKnownHostsFile /dev/null",
      "StrictHostKeyChecking yes",
      "",
    ].join("\n");
  }

  sshd(machine: "host1" | "host2" | "router"): Sshd {
    const d = this.daemons.get(machine);
    if (!d) throw new Error(`no sshd on ${machine}`);
    return d;
  }

  /** The cluster file's targets, turned into ssh targets. */
  useSshTargets(): void {
    let text = readFileSync(this.lab.clusterFile, "utf8");
    text = text
      .replace(
        `target: netns:${this.lab.hosts.host1}`,
        `target: ssh:root@${SshLab.ADDRESSES.host1}`,
      )
      .replace(
        `target: netns:${this.lab.hosts.host2}`,
        `target: ssh:root@${SshLab.ADDRESSES.host2}`,
      )
      .replace(`target: netns:${this.lab.router}`, `target: ssh:root@${SshLab.ADDRESSES.router}`);
    writeFileSync(this.lab.clusterFile, text);
  }

  /** The environment vmctl runs with: this lab's ssh_config and control dir (or `none`). */
  env(over: { config?: string; controlDir?: string } = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      VMCTL_SSH_CONFIG: over.config ?? this.config,
      VMCTL_SSH_CONTROL_DIR: over.controlDir ?? this.controlDir,
    };
  }

  /** Runs the built CLI in the admin namespace, with this lab's cluster and state files. */
  vmctl(args: string[], env: NodeJS.ProcessEnv = this.env()): Promise<CliResult> {
    const argv = [
      ...["netns", "exec", this.admin, process.execPath, "dist/vmctl/main.js"],
      ...["--cluster", this.lab.clusterFile, "--state-dir", this.lab.stateDir, ...args],
    ];
    return new Promise((resolve) => {
      execFile("ip", argv, { env, encoding: "utf8" }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Closes every ssh master left in `dir` (by its socket: `ssh -O exit`). */
  closeMasters(dir = this.controlDir, config = this.config): void {
    if (!existsSync(dir)) return;
    for (const sock of readdirSync(dir)) {
      try {
        // The destination is only a label once ControlPath names the socket.
        run("ip", [
          ...["netns", "exec", this.admin, "ssh", "-F", config],
          ...["-o", `ControlPath=${join(dir, sock)}`, "-O", "exit", "master"],
        ]);
      } catch {
        // already gone
      }
    }
  }

  async stop(): Promise<void> {
    this.closeMasters();
    for (const d of this.daemons.values()) await d.stop();
    try {
      run("ip", ["netns", "del", this.admin]);
    } catch {
      // never created
    }
  }
}

/** One sshd in a namespace: its own config, host key, authorized_keys and log. */
export class Sshd {
  private child: ChildProcess | undefined;
  private log = "";

  constructor(
    readonly ns: string,
    readonly dir: string,
    private readonly authorizedKey: string,
  ) {}

  async start(): Promise<void> {
    if (!existsSync(this.dir)) {
      mkdirSync(this.dir, { mode: 0o700 });
      run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(this.dir, "host_key")]);
      writeFileSync(join(this.dir, "authorized_keys"), readFileSync(this.authorizedKey));
      writeFileSync(
        join(this.dir, "sshd_config"),
        [
          "ListenAddress 0.0.0.0:22",
          `HostKey ${join(this.dir, "host_key")}`,
          `PidFile ${join(this.dir, "sshd.pid")}`,
          `AuthorizedKeysFile ${join(this.dir, "authorized_keys")}`,
          "PermitRootLogin prohibit-password",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          "UsePAM no",
          // The files live under /tmp (world-writable): StrictModes would refuse the key.
          "StrictModes no",
          "MaxSessions 100",
          // Debian's bash reads ~/.bashrc for every command that comes over ssh, and this
          // machine's root has one that runs `pyenv init` (0.6 s a command under load): the
          // lab's root gets an empty home, as a host's root normally has (docs/ssh-targets.md).
          `SetEnv HOME=${this.dir}`,
          "MaxStartups 100",
          // One "Accepted publickey" line per connection: the test counts handshakes by them.
          "LogLevel VERBOSE",
          "",
        ].join("\n"),
      );
    }
    // -D: foreground, so the PID we hold is sshd's own (ip netns exec execs it); -e: log to
    // stderr, which we keep.
    this.child = spawn(
      "ip",
      ["netns", "exec", this.ns, "/usr/sbin/sshd", "-D", "-e", "-f", join(this.dir, "sshd_config")],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      this.log += c;
    });
    const deadline = Date.now() + 10_000;
    while (!this.log.includes("Server listening on 0.0.0.0 port 22")) {
      if (this.child.exitCode !== null) throw new Error(`sshd in ${this.ns} exited: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`sshd in ${this.ns} not listening: ${this.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  hostKey(): string {
    return readFileSync(join(this.dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
  }

  /** How many connections sshd has accepted so far (each one a full handshake). */
  accepted(): number {
    return this.log.match(/Accepted publickey for root/g)?.length ?? 0;
  }

  /** Ends the listener by its PID. Sessions already open go on until their client closes. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}
