import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

/**
 * A metadata test network, entirely inside namespaces this test creates:
 *   <id>-srv : bridge br0 with 10.10.10.1/24 and 169.254.169.254/32 (mdserver listens there)
 *   <id>-vmN : eth0 with its address, reaching 169.254.169.254 via 10.10.10.1
 * Nothing is added to the root namespace; the namespaces have no link to any real network.
 */
export class MdNetwork {
  readonly id = `mdt${process.pid % 10000}${randomBytes(2).toString("hex")}`;
  readonly server = `${this.id}-srv`;
  private readonly namespaces: string[] = [];
  private vms = 0;

  static readonly SUBNET = "10.10.10";

  create(): void {
    this.ns(this.server);
    ip(this.server, "link", "set", "lo", "up");
    ip(this.server, "link", "add", "br0", "type", "bridge");
    ip(this.server, "addr", "add", `${MdNetwork.SUBNET}.1/24`, "dev", "br0");
    ip(this.server, "addr", "add", "169.254.169.254/32", "dev", "br0");
    ip(this.server, "link", "set", "br0", "up");
  }

  /** A namespace standing for a VM, with `address` on its eth0. Returns the namespace name. */
  addVm(address: string): string {
    const n = ++this.vms;
    const name = `${this.id}-vm${n}`;
    this.ns(name);
    const host = `v${this.id.slice(3)}${n}`.slice(0, 15);
    run("ip", [
      "link",
      "add",
      host,
      "netns",
      this.server,
      "type",
      "veth",
      "peer",
      "eth0",
      "netns",
      name,
    ]);
    ip(this.server, "link", "set", host, "master", "br0", "up");
    ip(name, "link", "set", "lo", "up");
    ip(name, "addr", "add", `${address}/24`, "dev", "eth0");
    ip(name, "link", "set", "eth0", "up");
    ip(name, "route", "add", "169.254.169.254/32", "via", `${MdNetwork.SUBNET}.1`);
    return name;
  }

  static readonly SUBNET6 = "fd00:10::";

  /**
   * IPv6 on the server's bridge: fd00:10::1/64 and AWS's fd00:ec2::254/128, without duplicate
   * address detection (a tentative address cannot be bound for about a second).
   */
  enableIpv6(): void {
    ip(this.server, "-6", "addr", "add", `${MdNetwork.SUBNET6}1/64`, "dev", "br0", "nodad");
    ip(this.server, "-6", "addr", "add", "fd00:ec2::254/128", "dev", "br0", "nodad");
  }

  /** An IPv6 address on a VM namespace's eth0, with the route to fd00:ec2::254. */
  addIpv6(vm: string, address: string): void {
    ip(vm, "-6", "addr", "add", `${address}/64`, "dev", "eth0", "nodad");
    try {
      ip(vm, "-6", "route", "add", "fd00:ec2::254/128", "via", `${MdNetwork.SUBNET6}1`);
    } catch {
      // a second address: the route is there
    }
  }

  /** Adds another address to a VM namespace (a guest claiming someone else's IP). */
  addAddress(vm: string, address: string): void {
    ip(vm, "addr", "add", `${address}/24`, "dev", "eth0");
  }

  destroy(): void {
    for (const name of this.namespaces.reverse()) {
      try {
        run("ip", ["netns", "del", name]);
      } catch {
        // already gone
      }
    }
  }

  private ns(name: string): void {
    run("ip", ["netns", "add", name]);
    this.namespaces.push(name);
  }
}

export function ip(ns: string, ...args: string[]): string {
  return run("ip", ["-n", ns, ...args]);
}

export function run(file: string, args: string[], input?: string): string {
  return execFileSync(file, args, {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
    stdio: ["pipe", "pipe", "pipe"],
    ...(input === undefined ? {} : { input }),
  });
}

export function inNs(ns: string, file: string, args: string[], timeoutMs = 120_000): string {
  return execFileSync("ip", ["netns", "exec", ns, file, ...args], {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: timeoutMs,
  });
}

/** inNs without blocking the event loop (so log lines from child processes keep arriving). */
export function inNsAsync(
  ns: string,
  file: string,
  args: string[],
  timeoutMs = 120_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "ip",
      ["netns", "exec", ns, file, ...args],
      {
        encoding: "utf8",
        env: { ...process.env, LC_ALL: "C" },
        timeout: timeoutMs,
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}
