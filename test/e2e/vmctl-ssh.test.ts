import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { livePid } from "../helpers/dhcp-lab.js";
import { TestLibvirtd } from "../helpers/libvirtd.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";
import { FabricLab } from "../helpers/netns-fabric.js";
import { ping } from "../helpers/netns-probes.js";
import { SshLab } from "../helpers/ssh-lab.js";
import { budget } from "../helpers/wait.js";

/**
 * One guest the way a real cluster runs it: vmctl on an admin machine, host1 and the router
 * reached as `ssh:root@ADDR` (a real sshd in each namespace), host1's libvirtd through
 * `qemu+ssh://root@ADDR/system?socket=...` (libvirt's ssh transport, `nc -U` on the host).
 * Created, reachable from another host's VM, deleted; nothing of it left.
 */
const lab = new FabricLab();
const ssh = new SshLab(lab);
const H1 = lab.hosts.host1;
const libvirtd = new TestLibvirtd(H1, { createNamespace: false });
const md = join(lab.dir, "host1-md");
const mdserver = new MdserverProcess(H1, join(lab.dir, "mdserver.conf"));
const key = join(lab.dir, "id_guest");
const BUILD_IMAGE = resolve(import.meta.dirname, "../helpers/build-test-image.sh");
const within = budget(15 * 60_000);
let created = false;

async function ok(args: string[]) {
  const r = await ssh.vmctl(args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

beforeAll(async () => {
  const built = (
    await promisify(execFile)("bash", [BUILD_IMAGE], { timeout: within(600_000) })
  ).stdout.trim();
  const imageDir = built.split("\n").pop() ?? "";
  lab.create();
  chmodSync(lab.dir, 0o755); // QEMU (libvirt-qemu) reaches the disks under it
  mkdirSync(md);
  await ssh.start();
  ssh.useSshTargets();
  await libvirtd.start();
  const uri = `qemu+ssh://root@${SshLab.ADDRESSES.host1}/system?socket=${libvirtd.dir}/sock/libvirt-sock`;
  writeFileSync(
    lab.clusterFile,
    readFileSync(lab.clusterFile, "utf8")
      .replace(
        `    target: ssh:root@${SshLab.ADDRESSES.host1}\n    libvirt: qemu:///system\n`,
        `    target: ssh:root@${SshLab.ADDRESSES.host1}\n    libvirt: ${uri}\n    state-dir: ${lab.dir}/host1\n    mdserver-state-dir: ${md}\n`,
      )
      .replace(
        `    target: ssh:root@${SshLab.ADDRESSES.host2}\n    libvirt: qemu:///system\n`,
        `    target: ssh:root@${SshLab.ADDRESSES.host2}\n    libvirt: qemu:///system?socket=${lab.dir}/none\n    state-dir: ${lab.dir}/host2\n`,
      ),
  );
  writeFileSync(
    join(lab.dir, "mdserver.conf"),
    `[mdserver]\nlibvirt-uri = ${libvirtd.uri}\nstate-dir = ${md}\nuserdata-dir = ${lab.dir}/none\n`,
  );
  await promisify(execFile)("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
  await ok(["host", "apply"]);
  await ok(["router", "apply"]);
  // After host apply: mdserver listens on 169.254.169.254, which the network's bridge holds.
  await mdserver.start();
  await ok([
    ...["image", "import", "deb12", join(imageDir, "base.qcow2")],
    ...["--kernel", join(imageDir, "vmlinuz"), "--initrd", join(imageDir, "initrd.img")],
    ...["--user", "debian"],
  ]);
}, 900_000);

afterAll(async () => {
  if (created) {
    await ssh.vmctl(["delete", "web1"]);
    for (const verb of ["destroy", "undefine"]) {
      try {
        libvirtd.virsh(verb, "web1");
      } catch {
        // gone already
      }
    }
  }
  // The DHCP server vmctl started on host1, by the PID it wrote (it stops with its last VM).
  const pid = livePid(join(lab.dir, "host1/dhcp/net1.pid"));
  if (pid !== undefined) process.kill(pid);
  await mdserver.stop();
  await libvirtd.stop();
  await ssh.stop();
  lab.destroy();
}, 180_000);

describe("vmctl over ssh: ssh: targets and qemu+ssh:// libvirt", () => {
  it("creates a guest over ssh that another host's VM reaches, and deletes it", async () => {
    created = true;
    const r = await ssh.vmctl([
      ...["create", "web1", "--net", "net1", "--image", "deb12", "--host", "host1"],
      ...["--cpus", "2", "--memory", "1G", "--ssh-key", `${key}.pub`],
      ...["--timeout", String(Math.round(within(420_000) / 1000))],
    ]);
    expect(r).toMatchObject({ code: 0, stdout: "web1 ready: 10.10.10.3 on net1, host host1\n" });
    // Logged in through host1's ssh target, against the host key pinned at first boot.
    expect((await ok(["ssh", "web1", "-i", key, "--", "hostname"])).stdout.trim()).toBe("web1");
    // From a VM on host2, across the fabric vmctl programmed over ssh.
    const nv = lab.addVm(
      "nv",
      lab.hosts.host2,
      "nv0",
      "10.10.10.50/24",
      "10.10.10.1",
      "52:54:00:aa:00:50",
    );
    await ok([
      ...["port", "attach", "net1", "--host", "host2", "--ip", "10.10.10.50"],
      ...["--dev", "nv0", "--mac", "52:54:00:aa:00:50"],
    ]);
    expect(ping(nv, "10.10.10.3", ["-c", "3", "-W", "2"]).ok).toBe(true);
    const list = JSON.parse((await ok(["list", "--json"])).stdout);
    expect(list).toEqual([
      expect.objectContaining({ name: "web1", host: "host1", state: "running" }),
    ]);
    expect((await ok(["delete", "web1"])).stdout).toBe("web1: deleted\n");
    created = false;
    expect(libvirtd.virsh("list", "--all", "--name").trim()).toBe("");
    expect(ping(nv, "10.10.10.3").ok).toBe(false);
    await ok(["port", "detach", "net1", "--ip", "10.10.10.50"]);
  }, 600_000);
});
