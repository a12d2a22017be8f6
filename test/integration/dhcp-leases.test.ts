import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setReservation } from "../../vmctl/vm/dhcp-server.js";
import { DhcpLab, type NsVm } from "../helpers/dhcp-lab.js";

/**
 * vmctl's per-network dnsmasq, for real, on the fabric lab's host1: namespace "VMs" created and
 * deleted through the port API and the DHCP reservation code create and delete use, with dhclient
 * as the guest's DHCP client. Issue 13 §1: a freed address can be used again.
 */
const lab = new DhcpLab();
const live: NsVm[] = [];

beforeAll(() => lab.up(), 60_000);
afterAll(() => lab.down());

const leasesOf = () => lab.leases().map((l) => `${l.mac} ${l.ip}`);

describe("DHCP leases on create and delete", () => {
  it("gives a freed address to the next VM, and its DHCP client gets it, with dnsmasq running or stopped", async () => {
    const a = await lab.create("a");
    const b = await lab.create("b");
    expect([a.ip, b.ip]).toEqual(["10.10.10.3", "10.10.10.4"]);
    expect(await lab.dhcp(a)).toBe("10.10.10.3");
    expect(await lab.dhcp(b)).toBe("10.10.10.4");
    expect(leasesOf().sort()).toEqual([`${a.mac} ${a.ip}`, `${b.mac} ${b.ip}`].sort());

    // Delete while the server keeps running for a: b's lease goes from the running dnsmasq.
    await lab.delete(b);
    expect(lab.serverPid()).toBeDefined();
    expect(leasesOf()).toEqual([`${a.mac} ${a.ip}`]);
    const c = await lab.create("c");
    expect(c.ip).toBe("10.10.10.4");
    expect(await lab.dhcp(c)).toBe("10.10.10.4");

    // Delete the last ones: the server stops; the next create starts it on a clean lease file.
    await lab.delete(a);
    await lab.delete(c);
    expect(lab.serverPid()).toBeUndefined();
    expect(lab.leases()).toEqual([]);
    const d = await lab.create("d");
    expect(d.ip).toBe("10.10.10.3");
    expect(await lab.dhcp(d)).toBe("10.10.10.3");
    live.push(d);
  }, 120_000);

  it("leaves one lease per live VM and nothing else after 20 create/delete cycles", async () => {
    const [d] = live as [NsVm];
    for (let i = 0; i < 20; i++) {
      const vm = await lab.create(`cyc${i}`);
      expect(vm.ip).toBe("10.10.10.4");
      expect(await lab.dhcp(vm)).toBe("10.10.10.4");
      await lab.delete(vm);
    }
    expect(leasesOf()).toEqual([`${d.mac} ${d.ip}`]);
    expect(lab.reservations()).toEqual([{ mac: d.mac, ip: d.ip, name: "d" }]);
    expect(lab.serverPid()).toBeDefined();
  }, 300_000);

  it("loses no reservation when 10 are written at once, and leaves no temp file", async () => {
    const run = lab.fabric.runnerFor(lab.host.target);
    const many = Array.from({ length: 10 }, (_, i) => ({
      mac: `52:54:00:ee:00:${(16 + i).toString(16)}`,
      ip: `10.10.10.${100 + i}`,
      name: `p${i}`,
    }));
    await Promise.all(many.map((r) => setReservation(run, lab.host, lab.net, { add: r })));
    const names = () => lab.reservations().map((r) => r.name);
    expect(names().sort()).toEqual(["d", ...many.map((r) => r.name)].sort());
    await Promise.all(
      many.map((r) => setReservation(run, lab.host, lab.net, { removeMac: r.mac })),
    );
    expect(names()).toEqual(["d"]);
    const files = readdirSync(dirname(lab.paths.hosts));
    expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([]);
    // The server read the file it was told to: d's client still gets its address.
    expect(await lab.dhcp(live[0] as NsVm)).toBe("10.10.10.3");
  }, 120_000);
});
