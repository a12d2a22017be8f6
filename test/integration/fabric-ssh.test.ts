import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../helpers/md-netns.js";
import { FabricLab } from "../helpers/netns-fabric.js";
import { nftConfig, ping, snapshot } from "../helpers/netns-probes.js";
import { SshLab } from "../helpers/ssh-lab.js";

/**
 * The fabric driven the way a real cluster is: vmctl on an admin machine, every host and the
 * router reached as `ssh:root@ADDR` through a real sshd in its namespace (docs/ssh-targets.md).
 */
const lab = new FabricLab();
const ssh = new SshLab(lab);
const machines = () => [lab.hosts.host1, lab.hosts.host2, lab.router];
const state = () => machines().map((ns) => ({ ...snapshot(ns), nft: nftConfig(ns) }));
let fresh = 0;
/** A control dir no master lives in yet (so what is measured is a cold start). */
const freshControlDir = () => join(ssh.dir, `ctl-${++fresh}`);

async function ok(args: string[], env = ssh.env()) {
  const r = await ssh.vmctl(args, env);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  lab.create();
  await ssh.start();
  ssh.useSshTargets();
}, 60_000);

afterAll(async () => {
  for (let i = 1; i <= fresh; i++) ssh.closeMasters(join(ssh.dir, `ctl-${i}`));
  await ssh.stop();
  lab.destroy();
}, 60_000);

describe("vmctl over ssh targets (real sshd in every machine)", () => {
  it("builds the fabric over ssh: a network on both hosts and the router, ports that reach each other", async () => {
    await ok(["net", "create", "net1", "--subnet", "10.20.0.0/24"]);
    expect(await ok(["host", "apply"])).toMatch(/^host1: \d+ command\(s\) applied$/m);
    expect(await ok(["router", "apply"])).toMatch(/^router: \d+ command\(s\) applied$/m);
    const v1 = lab.addVm(
      "v1",
      lab.hosts.host1,
      "v1p",
      "10.20.0.11/24",
      "10.20.0.1",
      "52:54:00:20:00:11",
    );
    const v2 = lab.addVm(
      "v2",
      lab.hosts.host2,
      "v2p",
      "10.20.0.12/24",
      "10.20.0.1",
      "52:54:00:20:00:12",
    );
    for (const [host, dev, addr, mac] of [
      ["host1", "v1p", "10.20.0.11", "52:54:00:20:00:11"],
      ["host2", "v2p", "10.20.0.12", "52:54:00:20:00:12"],
    ] as const) {
      await ok([
        "port",
        "attach",
        "net1",
        "--host",
        host,
        "--ip",
        addr,
        "--dev",
        dev,
        "--mac",
        mac,
      ]);
    }
    // Across hosts: through host1, the router and host2, all programmed over ssh.
    expect(ping(v1, "10.20.0.12").ok).toBe(true);
    expect(ping(v2, "10.20.0.11").ok).toBe(true);
    expect(await ok(["host", "apply"])).toBe("host1: up to date\nhost2: up to date\n");
    expect(await ok(["router", "apply"])).toBe("router: up to date\n");
  }, 120_000);

  it("shares one ssh connection per machine across every command of an apply, and across runs", async () => {
    const h1 = ssh.sshd("host1");
    const dir = freshControlDir();
    const count = async (env: NodeJS.ProcessEnv) => {
      const before = h1.accepted();
      await ok(["host", "apply", "host1"], env);
      return h1.accepted() - before;
    };
    const without = await count(ssh.env({ controlDir: "none" }));
    const first = await count(ssh.env({ controlDir: dir }));
    const next = await count(ssh.env({ controlDir: dir }));
    console.log(
      `ssh handshakes for one host apply: ${without} without reuse, ${first} with, then ${next}`,
    );
    // Without reuse, each of the apply's reads and probes is a connection of its own.
    expect(without).toBeGreaterThan(5);
    expect(first).toBe(1);
    expect(next).toBe(0); // the master waits ControlPersist seconds for the next run
    // The control dir is private (mode 0700): one socket for host1 (%C: 40 hex digits) and
    // the ssh program virsh's qemu+ssh:// is given.
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual([expect.stringMatching(/^[0-9a-f]{40}$/), "virsh-ssh"]);
  }, 60_000);

  it("names a host that refuses the key in one line, and changes nothing anywhere", async () => {
    await ok(["net", "create", "net2", "--subnet", "10.21.0.0/24"]);
    const other = join(ssh.dir, "other_key");
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const config = join(ssh.dir, "other_config");
    writeFileSync(config, ssh.clientConfig(other, join(ssh.dir, "known_hosts")));
    const before = state();
    const r = await ssh.vmctl(
      ["host", "apply"],
      ssh.env({ config, controlDir: freshControlDir() }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^vmctl: host1 \(ssh:root@198\.18\.0\.11\) refused the key \(root@198\.18\.0\.11: Permission denied \(publickey\)\.\); add your public key to root's authorized_keys there, e\.g\. ssh-copy-id root@198\.18\.0\.11\n$/,
    );
    expect(state()).toEqual(before);
  }, 60_000);

  it("names a host whose host key is not known, and changes nothing anywhere", async () => {
    const config = join(ssh.dir, "unknown_config");
    writeFileSync(join(ssh.dir, "empty_known_hosts"), "");
    writeFileSync(config, ssh.clientConfig(ssh.key, join(ssh.dir, "empty_known_hosts")));
    const before = state();
    const r = await ssh.vmctl(
      ["router", "apply"],
      ssh.env({ config, controlDir: freshControlDir() }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^vmctl: router \(ssh:root@198\.18\.0\.1\): its host key is not known \(Host key verification failed\.\); check it and add it to known_hosts: ssh-keyscan 198\.18\.0\.1 >> ~\/\.ssh\/known_hosts \(docs\/ssh-targets\.md\)\n$/,
    );
    expect(state()).toEqual(before);
  }, 60_000);

  it("names a host that is down, applies nothing on the others, and converges once it is back", async () => {
    await ssh.sshd("host2").stop();
    const before = state();
    // A fresh control dir: a master opened earlier would still carry commands to host2.
    const env = ssh.env({ controlDir: freshControlDir() });
    const r = await ssh.vmctl(["host", "apply"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^vmctl: host2 \(ssh:root@198\.18\.0\.12\) cannot be reached \(ssh: connect to host 198\.18\.0\.12 port 22: Connection refused\); is the host up and sshd running\? Nothing was changed\n$/,
    );
    // host1 was reachable and planned first, and still got nothing of net2.
    expect(state()).toEqual(before);
    await ssh.sshd("host2").start();
    expect(await ok(["host", "apply"], env)).toMatch(
      /^host1: \d+ command\(s\) applied\nhost2: \d+ command\(s\) applied\n$/m,
    );
    expect(await ok(["host", "apply"], env)).toBe("host1: up to date\nhost2: up to date\n");
  }, 60_000);

  it("sends virsh's qemu+ssh:// through vmctl's ssh options and master", async () => {
    // No libvirtd here (namespace-only test): libvirt's ssh transport reaches the host and
    // runs `nc -U SOCKET` there, which is what proves the path; a missing socket is its answer.
    const cluster = readFileSync(lab.clusterFile, "utf8");
    const uri = "qemu+ssh://root@198.18.0.11/system?socket=/run/vmctl-test-no-libvirt";
    writeFileSync(lab.clusterFile, cluster.replace("libvirt: qemu:///system", `libvirt: ${uri}`));
    try {
      const h1 = ssh.sshd("host1");
      const env = ssh.env({ controlDir: freshControlDir() });
      const seen: number[] = [];
      for (let i = 0; i < 2; i++) {
        const before = h1.accepted();
        const r = await ssh.vmctl(["list"], env);
        seen.push(h1.accepted() - before);
        expect(r.stderr).toContain(
          `vmctl: warning: host1: cannot list domains at ${uri}: error: End of file while reading data: nc: /run/vmctl-test-no-libvirt: No such file or directory`,
        );
      }
      // The first list opens host1's master, the second finds it.
      expect(seen).toEqual([1, 0]);
      // Without reuse virsh's own ssh runs: it has neither the lab's key nor its known_hosts.
      const own = await ssh.vmctl(["list"], ssh.env({ controlDir: "none" }));
      expect(own.stderr).toMatch(/host1: cannot list domains at .*Host key verification failed/);
    } finally {
      writeFileSync(lab.clusterFile, cluster);
    }
  }, 60_000);

  it("refuses a control dir that others can enter", async () => {
    const open = join(ssh.dir, "open-ctl");
    mkdirSync(open, { mode: 0o755 });
    const r = await ssh.vmctl(["host", "apply", "host1"], ssh.env({ controlDir: open }));
    expect(r).toMatchObject({
      code: 1,
      stderr: `vmctl: ssh control dir ${open} has mode 755, not 700: remove it, or set VMCTL_SSH_CONTROL_DIR to a private directory (mode 0700)\n`,
    });
  }, 30_000);
});
