import { chmodSync, mkdirSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cmd, sshArgs, wrapForTarget } from "../../lib/exec/command.js";
import { ensureControlDir, sshOptionsFrom } from "../../vmctl/ssh/control-dir.js";
import { diagnoseSsh } from "../../vmctl/ssh/diagnose.js";
import { virshSshScript, virshUriCommand, withSshCommand } from "../../vmctl/ssh/virsh-ssh.js";
import { testDir } from "../helpers/test-dir.js";

describe("ssh targets", () => {
  it("reuses one master per target from the control dir, kept ControlPersist seconds", () => {
    const w = wrapForTarget({ kind: "ssh", destination: "root@h1" }, cmd("ip", ["-json", "link"]), {
      config: "/etc/vmctl/ssh_config",
      controlDir: "/run/vmctl-ssh",
    });
    expect(w).toEqual({
      file: "ssh",
      args: [
        ...["-F", "/etc/vmctl/ssh_config"],
        ...["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"],
        ...["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"],
        ...["-o", "ControlMaster=auto", "-o", "ControlPath=/run/vmctl-ssh/%C"],
        ...["-o", "ControlPersist=60", "root@h1", "--", "env LC_ALL=C ip -json link"],
      ],
    });
  });

  it("opens a connection per command when reuse is off", () => {
    expect(sshArgs("root@h1", {}).join(" ")).not.toContain("Control");
    const off = sshOptionsFrom({ controlDir: "none", uid: 0 });
    expect(off.options).toEqual({});
  });

  it("defaults the control dir to the runtime dir, else a per-user one in the temp dir", () => {
    expect(sshOptionsFrom({ runtimeDir: "/run/user/0", uid: 0 }).options.controlDir).toBe(
      "/run/user/0/vmctl-ssh",
    );
    expect(sshOptionsFrom({ uid: 1000 }).options.controlDir).toMatch(/\/vmctl-ssh-1000$/);
  });

  it("makes the control dir 0700 and refuses one that others can enter, or a symlink", () => {
    const dir = testDir("vmctl-ctl-");
    const uid = process.getuid?.() ?? 0;
    ensureControlDir(join(dir, "ok"), uid);
    expect(statSync(join(dir, "ok")).mode & 0o777).toBe(0o700);
    mkdirSync(join(dir, "open"));
    chmodSync(join(dir, "open"), 0o755);
    expect(() => ensureControlDir(join(dir, "open"), uid)).toThrow(
      `ssh control dir ${dir}/open has mode 755, not 700: remove it, or set VMCTL_SSH_CONTROL_DIR to a private directory (mode 0700)`,
    );
    symlinkSync(join(dir, "ok"), join(dir, "link"));
    expect(() => ensureControlDir(join(dir, "link"), uid)).toThrow(/link is not a directory/);
    expect(() => ensureControlDir(join(dir, "ok"), uid + 1)).toThrow(
      new RegExp(`belongs to uid ${uid}, not to you`),
    );
  });

  // OpenSSH 9.2's own messages (captured from test/integration/fabric-ssh.test.ts).
  it("tells a host that is down from one that refuses the key or has an unknown host key", () => {
    const d = (stderr: string) => diagnoseSsh("host1", "root@198.18.0.11", stderr);
    expect(d("ssh: connect to host 198.18.0.11 port 22: Connection refused\r\n")).toBe(
      "host1 (ssh:root@198.18.0.11) cannot be reached (ssh: connect to host 198.18.0.11 port 22: Connection refused); is the host up and sshd running? Nothing was changed",
    );
    expect(d("ssh: connect to host 198.18.0.11 port 22: Connection timed out\r\n")).toMatch(
      /cannot be reached \(.*Connection timed out\)/,
    );
    expect(d("root@198.18.0.11: Permission denied (publickey).\r\n")).toBe(
      "host1 (ssh:root@198.18.0.11) refused the key (root@198.18.0.11: Permission denied (publickey).); add your public key to root's authorized_keys there, e.g. ssh-copy-id root@198.18.0.11",
    );
    expect(
      d(
        "No ED25519 host key is known for 198.18.0.11 and you have requested strict checking.\r\nHost key verification failed.\r\n",
      ),
    ).toBe(
      "host1 (ssh:root@198.18.0.11): its host key is not known (Host key verification failed.); check it and add it to known_hosts: ssh-keyscan 198.18.0.11 >> ~/.ssh/known_hosts (docs/ssh-targets.md)",
    );
    expect(
      d(
        "@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@@@\r\nHost key verification failed.\r\n",
      ),
    ).toMatch(/its host key changed .*ssh-keygen -R 198\.18\.0\.11$/);
  });
});

describe("virsh over qemu+ssh", () => {
  it("gives an ssh-transport URI vmctl's ssh as its command=, unless it names one", () => {
    const p = "/run/vmctl-ssh/virsh-ssh";
    expect(withSshCommand("qemu+ssh://root@h1/system", p)).toBe(
      "qemu+ssh://root@h1/system?command=/run/vmctl-ssh/virsh-ssh",
    );
    expect(withSshCommand("qemu+ssh://root@h1/system?socket=/s", p)).toBe(
      "qemu+ssh://root@h1/system?socket=/s&command=/run/vmctl-ssh/virsh-ssh",
    );
    expect(withSshCommand("qemu+ssh://root@h1/system?command=/usr/bin/ssh", p)).toBe(
      "qemu+ssh://root@h1/system?command=/usr/bin/ssh",
    );
    expect(withSshCommand("qemu:///system", p)).toBe("qemu:///system");
  });

  it("rewrites only virsh -c URI commands", () => {
    const rw = (u: string) => `${u}!`;
    expect(virshUriCommand(cmd("virsh", ["-c", "qemu+ssh://h/system", "list"]), rw).args).toEqual([
      "-c",
      "qemu+ssh://h/system!",
      "list",
    ]);
    expect(virshUriCommand(cmd("ip", ["-c", "x"]), rw).args).toEqual(["-c", "x"]);
  });

  it("writes a script that runs ssh with vmctl's options and libvirt's arguments", () => {
    expect(virshSshScript({ config: "/etc/vmctl/ssh_config", controlDir: "/run/c" })).toBe(
      "#!/bin/sh\nexec ssh -F /etc/vmctl/ssh_config -o BatchMode=yes -o ConnectTimeout=5 " +
        "-o ServerAliveInterval=5 -o ServerAliveCountMax=3 -o ControlMaster=auto " +
        '-o ControlPath=/run/c/%C -o ControlPersist=60 "$@"\n',
    );
  });
});
