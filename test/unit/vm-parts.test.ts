import { describe, expect, it } from "vitest";
import type { HostSpec } from "../../vmctl/net/cluster.js";
import { EMPTY_STORE } from "../../vmctl/net/model.js";
import { defineNetwork } from "../../vmctl/net/network.js";
import { checkRequestedIp, freeAddresses, parseSize } from "../../vmctl/vm/allocate.js";
import { dnsmasqConf, hostsFile, parseHostsFile, parseLeases } from "../../vmctl/vm/dhcp.js";
import { macFor, parseDomainList, tapName } from "../../vmctl/vm/vms.js";
import { testHost } from "../helpers/hosts.js";

const store = structuredClone(EMPTY_STORE);
const net = defineNetwork(store, { name: "net1", subnet: "10.10.10.0/29" });
store.networks.push(net);
const host: HostSpec = testHost();

describe("address allocation", () => {
  it("offers free addresses lowest first, never the gateway, bridge or a port's", () => {
    const data = {
      ...store,
      ports: [
        { network: "net1", host: "host1", ip: "10.10.10.4", dev: "t", mac: "52:54:00:00:00:04" },
      ],
    };
    expect([...freeAddresses(data, net)]).toEqual(["10.10.10.3", "10.10.10.5", "10.10.10.6"]);
  });

  it.each([
    ["10.10.10.9", "--ip 10.10.10.9: outside network net1 (10.10.10.0/29)"],
    ["10.10.10.1", "--ip 10.10.10.1: that is network net1's gateway or bridge address"],
    ["10.10.10.7", "--ip 10.10.10.7: outside network net1"],
    ["ten", "--ip ten: not an IPv4 address"],
  ])("refuses --ip %s", (ip, message) => {
    expect(() => checkRequestedIp(net, ip)).toThrow(message);
  });

  it("parses sizes", () => {
    expect(parseSize("1G")).toBe(2 ** 30);
    expect(parseSize("512M")).toBe(512 * 2 ** 20);
    expect(parseSize("1.5GiB")).toBe(1.5 * 2 ** 30);
    expect(parseSize("4096")).toBe(4096);
    for (const bad of ["", "G", "-1G", "1X", "0"]) expect(parseSize(bad)).toBeUndefined();
  });
});

describe("names from the UUID", () => {
  it("derives a tap name that fits IFNAMSIZ and a locally administered QEMU MAC", () => {
    const uuid = "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8";
    expect(tapName(uuid)).toBe("vma1b2c3d4e5");
    expect(tapName(uuid).length).toBeLessThanOrEqual(15);
    expect(macFor(uuid)).toBe("52:54:00:c6:d7:e8");
  });
});

describe("virsh list", () => {
  it("reads names and states, including 'shut off'", () => {
    const out = " 3    web1   running\n -    web-2  shut off\n";
    expect(parseDomainList(out)).toEqual([
      { name: "web1", state: "running" },
      { name: "web-2", state: "shut off" },
    ]);
  });

  it("keeps a name with spaces and quotes whole", () => {
    // virsh 9.0's layout: the name column is padded, the state is one of virsh's own words.
    const out = ` 1   it's a "vm"; #1   running\n -   two  spaces       in shutdown\n`;
    expect(parseDomainList(out)).toEqual([
      { name: `it's a "vm"; #1`, state: "running" },
      { name: "two  spaces", state: "in shutdown" },
    ]);
  });
});

describe("DHCP", () => {
  it("configures dnsmasq for reservations only, DNS off, the router as gateway", () => {
    const conf = dnsmasqConf(host, net);
    expect(conf).toContain(`interface=${net.bridge}\nbind-interfaces\n`);
    expect(conf).toContain("port=0\n");
    expect(conf).toContain("dhcp-range=10.10.10.0,static,255.255.255.248,12h\n");
    expect(conf).toContain("dhcp-option=option:router,10.10.10.1\n");
    expect(conf).toContain("dhcp-hostsfile=/var/lib/vmctl/dhcp/net1.hosts\n");
  });

  it("round-trips the hosts file and reads dnsmasq's lease file", () => {
    const r = [{ mac: "52:54:00:00:00:01", ip: "10.10.10.3", name: "web1" }];
    expect(parseHostsFile(hostsFile(r))).toEqual(r);
    expect(
      parseLeases("1795435026 52:54:00:00:00:01 10.10.10.3 web1 01:52:54:00:00:00:01\n"),
    ).toEqual([{ mac: "52:54:00:00:00:01", ip: "10.10.10.3", hostname: "web1" }]);
  });
});
