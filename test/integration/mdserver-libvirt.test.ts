import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceIdFromUuid } from "../../lib/instance.js";
import { renderMetadataElement } from "../../lib/metadata-xml.js";
import { TestLibvirtd } from "../helpers/libvirtd.js";
import { inNsAsync, MdNetwork, run } from "../helpers/md-netns.js";
import { MdserverProcess, runMdserver } from "../helpers/mdserver-process.js";

const net = new MdNetwork();
const libvirtd = new TestLibvirtd(`${net.id}-lv`);
const dir = mkdtempSync(join(tmpdir(), "mdserver-lv-"));
const server = new MdserverProcess(net.server, join(dir, "mdserver.conf"));
const prefix = `${net.id}-`;
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa alice";

function domainXml(
  name: string,
  ip: string,
  mac: string,
  hostname?: string,
  uuid?: string,
): string {
  const md = renderMetadataElement({
    addresses: [ip],
    sshKeys: [{ name: "alice", key: KEY }],
    network: "net1",
    ...(hostname ? { hostname } : {}),
  });
  return `<domain type='qemu'>
  <name>${name}</name>${uuid ? `\n  <uuid>${uuid}</uuid>` : ""}
  <memory unit='MiB'>128</memory>
  <metadata>
${md}
  </metadata>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><interface type='ethernet'><mac address='${mac}'/><model type='virtio'/></interface></devices>
</domain>`;
}

function define(name: string, ip: string, mac: string, hostname?: string, uuid?: string): string {
  const file = join(dir, `${name}.xml`);
  writeFileSync(file, domainXml(name, ip, mac, hostname, uuid));
  libvirtd.virsh("define", file);
  return libvirtd.virsh("domuuid", name).trim();
}

/** GETs a path from inside a VM namespace: [status, body]. */
async function get(vm: string, path: string): Promise<[number, string]> {
  const out = await inNsAsync(vm, "curl", [
    "-s",
    "-m",
    "2",
    "-w",
    "\n%{http_code}",
    `http://169.254.169.254${path}`,
  ]);
  const i = out.lastIndexOf("\n");
  return [Number(out.slice(i + 1)), out.slice(0, i)];
}

/** Polls until `path` answers `status`, failing after `limitMs`. */
async function until(vm: string, path: string, status: number, limitMs = 5000): Promise<void> {
  const start = performance.now();
  for (;;) {
    const [s] = await get(vm, path);
    if (s === status) return;
    const ms = performance.now() - start;
    if (ms > limitMs) throw new Error(`${path} still not ${status} after ${limitMs} ms (got ${s})`);
  }
}

describe("mdserver following a real libvirtd", () => {
  let vm1 = "";
  let vm2 = "";
  let uuid1 = "";
  let uuid2 = "";

  beforeAll(async () => {
    net.create();
    vm1 = net.addVm("10.10.10.21");
    vm2 = net.addVm("10.10.10.22");
    await libvirtd.start();
    uuid1 = define(`${prefix}a`, "10.10.10.21", "52:54:00:00:00:21");
    writeFileSync(
      join(dir, "mdserver.conf"),
      // A long reconcile interval: only the event stream can make the updates below happen (each
      // waits at most 5 s; how fast is not asserted here).
      `[mdserver]\nstate-dir = ${dir}/state\nlibvirt-uri = ${libvirtd.uri}\nreconcile-seconds = 3600\nuserdata-dir = ${dir}/none\n`,
    );
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    for (const name of [`${prefix}a`, `${prefix}b`]) {
      try {
        libvirtd.virsh("undefine", name);
      } catch {
        // not defined
      }
    }
    await libvirtd.stop();
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves a domain defined before it started, keyed by the domain UUID", async () => {
    expect(await get(vm1, "/latest/meta-data/instance-id")).toEqual([
      200,
      instanceIdFromUuid(uuid1),
    ]);
    expect(await get(vm1, "/latest/meta-data/local-hostname")).toEqual([200, `${prefix}a`]);
    expect(await get(vm1, "/latest/meta-data/mac")).toEqual([200, "52:54:00:00:00:21"]);
    expect(await get(vm1, "/latest/meta-data/public-keys/0/openssh-key")).toEqual([200, KEY]);
  });

  it("serves a domain defined while running, from the event stream", async () => {
    expect((await get(vm2, "/latest/meta-data/instance-id"))[0]).toBe(404);
    uuid2 = define(`${prefix}b`, "10.10.10.22", "52:54:00:00:00:22");
    await until(vm2, "/latest/meta-data/instance-id", 200);
    expect(await get(vm2, "/latest/meta-data/instance-id")).toEqual([
      200,
      instanceIdFromUuid(uuid2),
    ]);
  });

  it("reflects a changed definition from the event stream", async () => {
    define(`${prefix}b`, "10.10.10.22", "52:54:00:00:00:22", "renamed", uuid2);
    const start = performance.now();
    for (;;) {
      const [, body] = await get(vm2, "/latest/meta-data/local-hostname");
      if (body === "renamed") break;
      if (performance.now() - start > 5000) throw new Error(`hostname still ${body}`);
    }
  });

  it("forgets an undefined domain from the event stream", async () => {
    libvirtd.virsh("undefine", `${prefix}b`);
    await until(vm2, "/latest/meta-data/instance-id", 404);
    expect((await get(vm1, "/latest/meta-data/instance-id"))[0]).toBe(200);
  });

  it("gives a guest that adds another VM's address nothing of the other VM", async () => {
    // vm2 adds vm1's IP as a second address; its requests still leave from its own address.
    // Forging the source itself is stopped at the VM's port (anti-spoofing), not here.
    net.addAddress(vm2, "10.10.10.21");
    const [status, body] = await get(vm2, "/latest/meta-data/instance-id");
    expect(status).toBe(404);
    expect(body).not.toContain(instanceIdFromUuid(uuid1));
  });

  it("reports libvirt's last event and a restarted event stream in --status and /metrics", async () => {
    const conf = join(dir, "mdserver.conf");
    const status = async () => {
      const r = await runMdserver(["--config", conf, "--status", "--json"]);
      expect(r.stderr).toBe("");
      return JSON.parse(r.stdout) as {
        instances: { bySource: Record<string, number> };
        libvirt: {
          uri: string;
          events: number;
          streamRestarts: number;
          lastEvent: { domain: string; kind: string; detail: string };
          lastReconcile: { ok: boolean };
        };
      };
    };
    const s = await status();
    expect(s.instances.bySource).toEqual({ libvirt: 1, file: 0 });
    // The last event the tests above caused: the undefine of <prefix>b.
    expect(s.libvirt).toMatchObject({
      uri: libvirtd.uri,
      streamRestarts: 0,
      lastEvent: { domain: `${prefix}b`, kind: "lifecycle" },
      lastReconcile: { ok: true },
    });
    expect(s.libvirt.lastEvent.detail).toMatch(/^Undefined/);
    expect(s.libvirt.events).toBeGreaterThanOrEqual(3);
    // End the `virsh event` mdserver started (by its PID): mdserver follows again.
    const virsh = run("pgrep", ["-P", String(server.pid), "-f", "event --all --loop"]).trim();
    expect(virsh).toMatch(/^\d+$/);
    process.kill(Number(virsh), "SIGTERM");
    await server.waitFor((l) => l.msg === "libvirt event stream ended; restarting");
    expect((await status()).libvirt.streamRestarts).toBe(1);
    const text = (await runMdserver(["--config", conf, "--status"])).stdout;
    expect(text).toContain("  stream restarts: 1\n");
    expect(text).toMatch(new RegExp(`^  last event: +\\S+ lifecycle ${prefix}b: Undefined`, "m"));
    const metrics = await inNsAsync(net.server, "curl", [
      "-s",
      "--unix-socket",
      join(dir, "state/admin.sock"),
      "http://admin/metrics",
    ]);
    expect(metrics).toContain("\nmdserver_libvirt_stream_restarts_total 1\n");
    expect(metrics).toContain('\nmdserver_instances{source="libvirt"} 1\n');
    // After the restart the new stream still delivers: a define shows up.
    define(`${prefix}b`, "10.10.10.22", "52:54:00:00:00:22");
    await until(vm2, "/latest/meta-data/instance-id", 200);
    const after = await status();
    expect(after.libvirt.lastEvent.domain).toBe(`${prefix}b`);
    expect(after.instances.bySource.libvirt).toBe(2);
  });
});
