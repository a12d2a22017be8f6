import { describe, expect, it } from "vitest";
import { EMPTY_STORE, type Network } from "../../vmctl/net/model.js";
import { freeAddresses } from "../../vmctl/vm/allocate.js";
import { type DhcpState, planDhcp, pruneLeases, withChange } from "../../vmctl/vm/dhcp.js";
import { parseProcStat } from "../../vmctl/vm/host-files.js";

const A = { mac: "52:54:00:00:00:0a", ip: "10.10.10.3", name: "a" };
const B = { mac: "52:54:00:00:00:0b", ip: "10.10.10.4", name: "b" };
const lease = (r: { mac: string; ip: string; name: string }) =>
  `1795435026 ${r.mac} ${r.ip} ${r.name} 01:${r.mac}\n`;
const state = (over: Partial<DhcpState>): DhcpState => ({
  reservations: [A, B],
  leases: lease(A) + lease(B),
  running: true,
  confChanged: false,
  ...over,
});

describe("DHCP leases and reservations", () => {
  it("drops the leases no reservation backs and keeps the other lines of the file", () => {
    const moved = { ...B, ip: "10.10.10.9" };
    const text = `${lease(A)}${lease(moved)}duid 00:01:00:01\n`;
    const r = pruneLeases(text, [A, B]);
    expect(r.text).toBe(`${lease(A)}duid 00:01:00:01\n`);
    expect(r.stale).toEqual([{ mac: B.mac, ip: "10.10.10.9", hostname: "b" }]);
    // dnsmasq writes MACs in lower case; a reservation written in upper case still backs it.
    expect(pruneLeases(lease(A), [{ ...A, mac: A.mac.toUpperCase() }]).stale).toEqual([]);
  });

  it("replaces a reservation with the same MAC or address, and removes one by MAC", () => {
    const c = { mac: "52:54:00:00:00:0c", ip: A.ip, name: "c" };
    expect(withChange([A, B], { add: c })).toEqual([B, c]);
    expect(withChange([A, B], { removeMac: A.mac.toUpperCase() })).toEqual([B]);
    expect(withChange([A], { removeMac: B.mac })).toEqual([A]);
  });
});

describe("planning a network's DHCP on a host", () => {
  it("restarts a running server to drop the lease of a removed reservation", () => {
    const plan = planDhcp(state({}), [B], false);
    expect(plan).toEqual({
      reservations: [B],
      added: [],
      removed: [A],
      stale: [{ mac: A.mac, ip: A.ip, hostname: "a" }],
      server: "restart",
    });
  });

  it("stops the server with its last reservation; a stopped one is not started by a removal", () => {
    expect(planDhcp(state({ reservations: [A], leases: lease(A) }), [], false).server).toBe("stop");
    const stopped = planDhcp(state({ running: false }), [B], false);
    expect(stopped.server).toBe("none");
    // The lease is still dropped: with no server running the file may be edited.
    expect(stopped.stale.map((l) => l.ip)).toEqual([A.ip]);
  });

  it("reloads for an added reservation when no stale lease needs dropping", () => {
    const c = { mac: "52:54:00:00:00:0c", ip: "10.10.10.5", name: "c" };
    expect(planDhcp(state({}), [A, B, c], true)).toMatchObject({ added: [c], server: "reload" });
    expect(planDhcp(state({}), [A, B], true).server).toBe("none");
  });

  it("starts a stopped server when it may, and restarts one whose config changed", () => {
    expect(planDhcp(state({ running: false }), [A, B], true).server).toBe("start");
    expect(planDhcp(state({ confChanged: true }), [A, B], true).server).toBe("restart");
  });

  it("restarts rather than reloads when the new VM's address is still leased to another MAC", () => {
    const c = { mac: "52:54:00:00:00:0c", ip: A.ip, name: "c" };
    const plan = planDhcp(state({}), withChange([A, B], { removeMac: A.mac, add: c }), true);
    expect(plan.server).toBe("restart");
    expect(plan.stale.map((l) => l.mac)).toEqual([A.mac]);
  });
});

describe("address allocation", () => {
  const net: Network = {
    name: "net1",
    subnet: "10.10.10.0/29",
    gateway: "10.10.10.1",
    bridgeIp: "10.10.10.2",
    table: 101,
    rulePref: 1001,
    bridge: "br-net1",
    mac: "02:00:00:00:00:01",
  };

  it("skips addresses a lease on the VM's host still holds", () => {
    const data = { ...EMPTY_STORE, networks: [net] };
    expect([...freeAddresses(data, net, ["10.10.10.3", "10.10.10.5"])]).toEqual([
      "10.10.10.4",
      "10.10.10.6",
    ]);
  });
});

describe("a process's state from /proc/PID/stat", () => {
  it("reads the name (even with spaces and parentheses) and the state letter", () => {
    expect(parseProcStat("4242 (dnsmasq) S 1 4242 4242 0 -1\n")).toEqual({
      comm: "dnsmasq",
      state: "S",
    });
    expect(parseProcStat("77 (a (b) c) Z 1 77")).toEqual({ comm: "a (b) c", state: "Z" });
    expect(parseProcStat("")).toBeUndefined();
  });
});
