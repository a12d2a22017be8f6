import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { domainXml } from "../../vmctl/libvirt/domain-xml.js";
import { DhcpLab, type NsVm } from "../helpers/dhcp-lab.js";
import { TestLibvirtd } from "../helpers/libvirtd.js";
import { vmctl } from "../helpers/netns-fabric.js";

/**
 * Issue 13 §1 after a crash: `vmctl host apply` brings a network's DHCP reservations and leases
 * on a host back to the VMs that exist there. The domains live in a real libvirtd inside host1
 * (defined, not started: their DHCP clients are namespace "VMs" with the domains' MACs).
 */
const lab = new DhcpLab();
const libvirtd = new TestLibvirtd(lab.lab.hosts.host1, { createNamespace: false });
const vms: Record<string, NsVm> = {};
const defined: string[] = [];

function define(vm: NsVm): void {
  const xml = domainXml({
    name: vm.name,
    uuid: randomUUID(),
    memoryMiB: 128,
    vcpus: 1,
    disk: join(lab.lab.dir, `${vm.name}.qcow2`),
    bridge: "br-net1",
    tap: `t${vm.name}`,
    mac: vm.mac,
    consoleLog: join(lab.lab.dir, `${vm.name}.log`),
    identity: "plain",
    virtType: "qemu",
    metadata: { network: "net1", addresses: [vm.ip], sshKeys: [] },
  });
  const file = join(lab.lab.dir, `${vm.name}.xml`);
  writeFileSync(file, xml);
  libvirtd.virsh("define", file);
  defined.push(vm.name);
}

async function apply(...args: string[]) {
  const r = await vmctl(lab.lab, [...args, "host", "apply", "host1"]);
  if (r.code !== 0) throw new Error(`vmctl host apply exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  await lab.up(libvirtd.uri);
  await libvirtd.start();
  for (const name of ["gone", "kept"]) {
    vms[name] = await lab.create(name);
    define(vms[name] as NsVm);
    expect(await lab.dhcp(vms[name] as NsVm)).toBe((vms[name] as NsVm).ip);
  }
}, 120_000);

afterAll(async () => {
  // Definitions persist in the machine's libvirt config directory: never leave one behind.
  for (const name of defined) {
    try {
      libvirtd.virsh("undefine", name);
    } catch {
      // undefined by the test already
    }
  }
  lab.down();
  await libvirtd.stop();
});

describe("vmctl host apply after a crash", () => {
  it("--dry-run lists the reservation and lease of a domain undefined behind vmctl's back, and changes nothing", async () => {
    const { gone, kept } = vms as { gone: NsVm; kept: NsVm };
    libvirtd.virsh("undefine", "gone");
    // The host "reboots": its dnsmasq is gone, the files stay.
    process.kill(lab.serverPid() as number);
    await new Promise((r) => setTimeout(r, 300));
    expect(lab.serverPid()).toBeUndefined();
    const files = () => [
      readFileSync(lab.paths.hosts, "utf8"),
      readFileSync(lab.paths.leases, "utf8"),
    ];
    const before = files();
    const out = await apply("--dry-run");
    expect(out).toContain(
      `host1: net1: reservation gone ${gone.mac} ${gone.ip} would be removed (no such VM here)`,
    );
    expect(out).toContain(`host1: net1: lease ${gone.ip} of ${gone.mac} would be dropped (stale)`);
    expect(out).toContain("host1: net1: DHCP server would be started");
    expect(out).not.toContain(`reservation kept ${kept.mac}`);
    expect(files()).toEqual(before);
    expect(lab.serverPid()).toBeUndefined();
  }, 60_000);

  it("removes them and starts the server again; the freed address serves the next VM", async () => {
    const { gone, kept } = vms as { gone: NsVm; kept: NsVm };
    const out = await apply();
    expect(out).toContain(
      `host1: net1: reservation gone ${gone.mac} ${gone.ip} removed (no such VM here)`,
    );
    expect(out).toContain(`host1: net1: lease ${gone.ip} of ${gone.mac} dropped (stale)`);
    expect(out).toContain("host1: net1: DHCP server started");
    expect(lab.reservations()).toEqual([{ mac: kept.mac, ip: kept.ip, name: "kept" }]);
    expect(lab.leases().map((l) => l.mac)).toEqual([kept.mac]);
    expect(lab.serverPid()).toBeDefined();
    expect(await lab.dhcp(kept)).toBe(kept.ip);
    // The undefined domain's MAC gets nothing now; a second apply changes nothing.
    expect(await lab.dhcp(gone, 4)).toBe("");
    expect(await apply()).toBe("host1: up to date\n");
    // Once its port is gone too (the fabric's record: port detach), the address is free again.
    const detach = await vmctl(lab.lab, ["port", "detach", "net1", "--ip", gone.ip]);
    expect(detach.code).toBe(0);
    const next = await lab.create("next");
    expect(next.ip).toBe(gone.ip);
    define(next);
    expect(await lab.dhcp(next)).toBe(gone.ip);
  }, 60_000);
});
