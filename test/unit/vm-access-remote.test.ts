import { describe, expect, it } from "vitest";
import { wrapInteractive } from "../../lib/exec/command.js";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";

const UUID = "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8";
const MAC = "52:54:00:c6:d7:e8";

/** One host reached over ssh, with the libvirt URI given. */
function remote(libvirt: string) {
  return fakeCluster({
    cluster: `hosts:
  - {name: host1, address: 198.18.0.11, lan: eth0, target: "ssh:root@198.18.0.11", libvirt: "${libvirt}", state-dir: /srv/h1}
router: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0, target: "netns:rt"}
`,
    domains: [
      { name: "web1", state: "running", xml: vmDomainXml("web1", UUID, "10.10.10.3", MAC) },
    ],
    hostFiles: { "/srv/h1/known_hosts/web1": "10.10.10.3 ssh-ed25519 AAAA\n" },
  });
}

describe("vmctl console and ssh on a host reached over ssh", () => {
  it("console: virsh runs here with a remote libvirt URI (libvirt carries the console)", async () => {
    const t = remote("qemu+ssh://root@198.18.0.11/system");
    expect(await t.vmctl("console", "web1")).toBe(0);
    expect(t.interactive).toEqual([
      "local: virsh -c qemu+ssh://root@198.18.0.11/system -q console -- web1",
    ]);
  });

  it("console: with a URI of the host's own libvirtd (qemu:///system) virsh runs on the host", async () => {
    const t = remote("qemu:///system");
    expect(await t.vmctl("console", "web1")).toBe(0);
    expect(t.interactive).toEqual([
      "ssh:root@198.18.0.11: virsh -c qemu:///system -q console -- web1",
    ]);
  });

  it("ssh: runs ssh on the VM's host through its target, against the key pinned there", async () => {
    const t = remote("qemu+ssh://root@198.18.0.11/system");
    expect(await t.vmctl("ssh", "web1", "--", "hostname")).toBe(0);
    expect(t.interactive).toEqual([
      "ssh:root@198.18.0.11: ssh -o UserKnownHostsFile=/srv/h1/known_hosts/web1 -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -- debian@10.10.10.3 hostname",
    ]);
    // The pinned key was read on the host, over its ssh target.
    expect(t.commands().some((c) => c.target === "ssh:root@198.18.0.11" && c.file === "cat")).toBe(
      true,
    );
  });

  it("gives the far side a terminal (ssh -t) when the command is interactive", () => {
    const inner = { file: "ssh", args: ["--", "debian@10.10.10.3"], mutates: false };
    const w = wrapInteractive({ kind: "ssh", destination: "root@198.18.0.11" }, inner);
    expect(w.file).toBe("ssh");
    expect(w.args[0]).toBe("-t");
    expect(w.args.slice(-3)).toEqual([
      "root@198.18.0.11",
      "--",
      "env LC_ALL=C ssh -- debian@10.10.10.3",
    ]);
    // Locally and in a namespace nothing is added.
    expect(wrapInteractive({ kind: "local" }, inner)).toEqual({ file: "ssh", args: inner.args });
    expect(wrapInteractive({ kind: "netns", name: "h1" }, inner).args.slice(0, 3)).toEqual([
      "netns",
      "exec",
      "h1",
    ]);
  });
});
