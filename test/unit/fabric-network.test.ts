import { describe, expect, it } from "vitest";
import { EMPTY_STORE, type StoreData } from "../../vmctl/net/model.js";
import { bridgeMac, bridgeName } from "../../vmctl/net/names.js";
import { checkPortAddress, defineNetwork } from "../../vmctl/net/network.js";

const empty = (): StoreData => structuredClone(EMPTY_STORE);

function withNets(...subnets: [string, string][]): StoreData {
  const s = empty();
  for (const [name, subnet] of subnets) s.networks.push(defineNetwork(s, { name, subnet }));
  return s;
}

describe("network definitions", () => {
  it("fills in gateway .1, bridge address .2, table 101, pref 1000, bridge name and MAC", () => {
    expect(defineNetwork(empty(), { name: "net1", subnet: "10.10.10.0/24" })).toEqual({
      name: "net1",
      subnet: "10.10.10.0/24",
      gateway: "10.10.10.1",
      bridgeIp: "10.10.10.2",
      table: 101,
      rulePref: 1000,
      bridge: "br-net1",
      mac: bridgeMac("net1"),
    });
  });

  it("allocates the next free table and reuses freed ones", () => {
    const s = withNets(["a", "10.1.0.0/24"], ["b", "10.2.0.0/24"], ["c", "10.3.0.0/24"]);
    expect(s.networks.map((n) => [n.table, n.rulePref])).toEqual([
      [101, 1000],
      [102, 1001],
      [103, 1002],
    ]);
    s.networks = s.networks.filter((n) => n.name !== "b");
    expect(defineNetwork(s, { name: "d", subnet: "10.4.0.0/24" }).table).toBe(102);
  });

  it("derives a locally administered unicast MAC that depends only on the name", () => {
    const mac = bridgeMac("net1");
    expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(bridgeMac("net1")).toBe(mac);
    expect(bridgeMac("net2")).not.toBe(mac);
  });

  it("keeps bridge names within the kernel's 15 characters", () => {
    expect(bridgeName("net1")).toBe("br-net1");
    const long = bridgeName("a-rather-long-network-name");
    expect(long.length).toBeLessThanOrEqual(15);
    expect(long).not.toBe(bridgeName("a-rather-long-network-other"));
  });

  it("refuses overlapping subnets, naming the other network", () => {
    const s = withNets(["net1", "10.10.10.0/24"]);
    expect(() => defineNetwork(s, { name: "x", subnet: "10.10.0.0/16" })).toThrow(
      "subnet 10.10.0.0/16 overlaps network net1 (10.10.10.0/24)",
    );
  });

  it("refuses a gateway outside the subnet, duplicates and malformed input", () => {
    const s = withNets(["net1", "10.10.10.0/24"]);
    expect(() =>
      defineNetwork(s, { name: "x", subnet: "10.20.20.0/24", gateway: "10.30.0.1" }),
    ).toThrow("gateway 10.30.0.1 is not a usable address in 10.20.20.0/24");
    expect(() => defineNetwork(s, { name: "net1", subnet: "10.20.20.0/24" })).toThrow(
      "network net1 already exists",
    );
    expect(() => defineNetwork(s, { name: "x", subnet: "10.20.20.5/24" })).toThrow(
      "did you mean 10.20.20.0/24?",
    );
    expect(() => defineNetwork(s, { name: "x", subnet: "169.254.0.0/24" })).toThrow("metadata");
    expect(() => defineNetwork(s, { name: "Bad_Name", subnet: "10.20.20.0/24" })).toThrow(
      "must match",
    );
    expect(() =>
      defineNetwork(s, { name: "x", subnet: "10.20.20.0/24", bridgeIp: "10.20.20.1" }),
    ).toThrow(
      "--gateway 10.20.20.1 (the default: the subnet's first address) and --bridge-ip 10.20.20.1 are the same address",
    );
  });

  it("checks VM addresses: inside, not gateway or bridge, not taken", () => {
    const s = withNets(["net1", "10.10.10.0/24"]);
    const net = s.networks[0];
    if (!net) throw new Error("no network");
    s.ports.push({
      network: "net1",
      host: "host1",
      ip: "10.10.10.11",
      dev: "vm1",
      mac: "52:54:00:00:00:01",
    });
    expect(() => checkPortAddress(s, net, "10.10.10.12")).not.toThrow();
    expect(() => checkPortAddress(s, net, "10.10.10.11")).toThrow("already attached on host1");
    expect(() => checkPortAddress(s, net, "10.10.10.1")).toThrow("gateway or bridge");
    expect(() => checkPortAddress(s, net, "10.10.11.1")).toThrow(
      "address 10.10.11.1: outside network net1 (10.10.10.0/24)",
    );
  });
});
