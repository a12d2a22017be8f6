import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { EMPTY_STORE } from "../../vmctl/net/model.js";
import { defineNetwork } from "../../vmctl/net/network.js";
import { dnsmasqConf } from "../../vmctl/vm/dhcp.js";
import { testHost } from "./hosts.js";
import { waitUntil } from "./wait.js";

export interface GuestShell {
  /** Runs a shell command in the guest as its login user (sudo -n for root). */
  ssh(command: string, timeoutMs?: number): Promise<string>;
  /** Copies a local file to a path in the guest. */
  copy(local: string, remote: string): Promise<void>;
}

/** What systemd-analyze security rates a unit, best first. */
const EXPOSURE = ["PERFECT", "SAFE", "OK", "MEDIUM", "EXPOSED", "UNSAFE"];

/**
 * Registers the checks of the packages under real systemd, in a booted guest that has the
 * .deb's dependencies (the debian13 test image): the .deb from `npm run package` installs,
 * `systemctl enable --now` starts mdserver as its own user, `systemctl reload` re-reads the
 * instances file, a crash is restarted, systemd-analyze rates the unit, and vmctl-dhcp@net1
 * runs dnsmasq on vmctl's configuration.
 */
export function packageChecksUnderSystemd(guest: () => GuestShell, report: (line: string) => void) {
  const sh = (command: string, timeoutMs?: number) => guest().ssh(command, timeoutMs);
  const root = (command: string) => sh(`sudo -n sh -c '${command.replaceAll("'", `'\\''`)}'`);
  const curl = (path: string) =>
    sh(`curl -sS --max-time 5 http://169.254.169.254${path}`).catch((e: Error) => e.message);
  // The image has no D-Bus: systemctl reaches systemd only as root (its private socket).
  const mainPid = async () => (await root("systemctl show -P MainPID mdserver")).trim();

  it("installs the .deb made by npm run package (dependencies from the image, dpkg checks them)", async () => {
    const out = mkdtempSync(join(tmpdir(), "mdserver-guestpkg-"));
    try {
      await promisify(execFile)("npm", ["run", "package", "--silent"], {
        env: { ...process.env, PACKAGE_OUT: out },
        maxBuffer: 64 << 20,
      });
      const deb = readdirSync(out).find((f) => f.endsWith(".deb"));
      if (!deb) throw new Error(`npm run package made no .deb in ${out}`);
      await guest().copy(join(out, deb), "/tmp/mdserver-vmctl.deb");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    // As on a libvirt host (libvirt-daemon-system makes the group): postinst adds mdserver to it.
    await root("getent group libvirt || groupadd --system libvirt");
    await root("dpkg -i /tmp/mdserver-vmctl.deb");
    expect(await sh("dpkg -s mdserver-vmctl")).toMatch(/^Status: install ok installed$/m);
    expect(await sh("id -nG mdserver")).toMatch(/\blibvirt\b/);
    expect((await sh("stat -c '%a %U %G' /etc/mdserver/mdserver.conf")).trim()).toBe(
      "640 root mdserver",
    );
    expect(await sh("vmctl --help")).toContain("Usage: vmctl");
  }, 300_000);

  it("starts mdserver with systemctl enable --now: enabled, active, as user mdserver, answering", async () => {
    await root(
      [
        "ip addr add 169.254.169.254/32 dev lo",
        "printf 'instances:\\n  - {name: self, ip: 169.254.169.254, hostname: before-reload}\\n' > /etc/mdserver/instances.yaml",
        "printf '[mdserver]\\nlibvirt = no\\ninstances-file = /etc/mdserver/instances.yaml\\n' > /etc/mdserver/mdserver.conf",
        "systemctl enable --now mdserver",
      ].join(" && "),
    ).catch(async (err: Error) => {
      const journal = await root("journalctl -u mdserver --no-pager | tail -20").catch(String);
      throw new Error(`${err.message}\n${journal}`);
    });
    expect((await root("systemctl is-enabled mdserver")).trim()).toBe("enabled");
    await waitUntil("mdserver.service to answer", 60_000, async () =>
      (await curl("/latest/meta-data/hostname")) === "before-reload" ? true : undefined,
    );
    expect((await root("systemctl is-active mdserver")).trim()).toBe("active");
    expect((await sh(`stat -c %U /proc/${await mainPid()}`)).trim()).toBe("mdserver");
  }, 120_000);

  it("re-reads its instances on systemctl reload, without a restart", async () => {
    const before = await mainPid();
    await root("sed -i s/before-reload/after-reload/ /etc/mdserver/instances.yaml");
    await root("systemctl reload mdserver");
    await waitUntil("the reloaded hostname", 30_000, async () =>
      (await curl("/latest/meta-data/hostname")) === "after-reload" ? true : undefined,
    );
    expect(await mainPid()).toBe(before);
  }, 60_000);

  it("is restarted by systemd after a crash", async () => {
    const before = await mainPid();
    await root(`kill -KILL ${before}`);
    const after = await waitUntil("a new mdserver main process", 60_000, async () => {
      const pid = await mainPid();
      const active = (await root("systemctl is-active mdserver || true")).trim();
      return pid !== before && pid !== "0" && active === "active" ? pid : undefined;
    });
    expect(after.value).not.toBe(before);
    await waitUntil("mdserver to answer again", 30_000, async () =>
      (await curl("/latest/meta-data/hostname")) === "after-reload" ? true : undefined,
    );
  }, 90_000);

  it("is rated by systemd-analyze security (reported; OK or better)", async () => {
    const text = await root("systemd-analyze security --no-pager mdserver.service");
    const m = /Overall exposure level for mdserver\.service: ([\d.]+) (\w+)/.exec(text);
    expect(m, text).not.toBeNull();
    report(`systemd-analyze security mdserver.service: ${m?.[1]} ${m?.[2]}`);
    expect(EXPOSURE.indexOf(m?.[2] ?? "")).toBeGreaterThanOrEqual(0);
    expect(EXPOSURE.indexOf(m?.[2] ?? "")).toBeLessThanOrEqual(EXPOSURE.indexOf("OK"));
  }, 60_000);

  it("runs vmctl-dhcp@net1: dnsmasq on vmctl's configuration for the network, restarted when killed", async () => {
    const host = testHost({ stateDir: "/var/lib/vmctl" });
    const net = defineNetwork(structuredClone(EMPTY_STORE), {
      name: "net1",
      subnet: "10.99.0.0/24",
    });
    const conf = join(mkdtempSync(join(tmpdir(), "mdserver-guestdhcp-")), "net1.conf");
    writeFileSync(conf, dnsmasqConf(host, net));
    await guest().copy(conf, "/tmp/net1.conf");
    rmSync(dirname(conf), { recursive: true, force: true });
    await root(
      [
        `ip link add ${net.bridge} type bridge`,
        `ip addr add 10.99.0.2/24 dev ${net.bridge}`,
        `ip link set ${net.bridge} up`,
        "mkdir -p /var/lib/vmctl/dhcp",
        "touch /var/lib/vmctl/dhcp/net1.hosts",
        "install -m 0644 /tmp/net1.conf /var/lib/vmctl/dhcp/net1.conf",
        "systemctl enable --now vmctl-dhcp@net1",
      ].join(" && "),
    );
    const first = await waitUntil("vmctl-dhcp@net1 to be active", 30_000, async () => {
      const pid = (await root("systemctl show -P MainPID vmctl-dhcp@net1")).trim();
      return pid !== "0" &&
        (await root("systemctl is-active vmctl-dhcp@net1 || true")).trim() === "active"
        ? pid
        : undefined;
    });
    expect((await sh(`cat /proc/${first.value}/comm`)).trim()).toBe("dnsmasq");
    expect(await sh("sudo -n ss -ulnp 'sport = :67'")).toContain("dnsmasq");
    await root(`kill -KILL ${first.value}`);
    await waitUntil("vmctl-dhcp@net1 restarted", 30_000, async () => {
      const pid = (await root("systemctl show -P MainPID vmctl-dhcp@net1")).trim();
      return pid !== first.value && pid !== "0" ? pid : undefined;
    });
  }, 90_000);
}
