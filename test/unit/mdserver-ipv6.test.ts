import { describe, expect, it } from "vitest";
import { normalizeAddress } from "../../lib/net-address.js";
import { parseMdserverConfig } from "../../mdserver/config/mdserver-config.js";
import { instance, testApp } from "../helpers/app-fixture.js";

describe("IPv6 addresses", () => {
  it.each([
    ["FD00:0:0:0:0:0:0:5", "fd00::5"],
    ["fd00:0010:0000:0000:0000:0000:0000:0022", "fd00:10::22"],
    ["fd00:ec2:0:0:0:0:0:254", "fd00:ec2::254"],
    // Two equal runs: the first is compressed (RFC 5952 4.2.3, as glibc does).
    ["fd00:0:1:0:0:1:0:0", "fd00:0:1::1:0:0"],
    ["::ffff:10.0.0.5", "10.0.0.5"],
    ["10.0.0.5", "10.0.0.5"],
  ])("normalises %s to the socket's form %s", (written, canonical) => {
    expect(normalizeAddress(written)).toBe(canonical);
  });

  const v6 = instance({ name: "six", addresses: ["10.0.0.6", "FD00:10:0::6"] });
  const only6 = instance({
    name: "only6",
    uuid: "6f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e60",
    addresses: ["fd00:10::7"],
  });

  it("serves an instance to its IPv6 address however the record writes it", async () => {
    const { req } = testApp({ instances: [v6, only6] });
    expect(await req("/latest/meta-data/instance-id", { from: "fd00:10::6" })).toMatchObject({
      status: 200,
      body: v6.instanceId,
    });
    expect(await req("/latest/meta-data/instance-id", { from: "10.0.0.6" })).toMatchObject({
      status: 200,
      body: v6.instanceId,
    });
    expect((await req("/latest/meta-data/instance-id", { from: "fd00:10::99" })).status).toBe(404);
  });

  it("keeps local-ipv4 and privateIp IPv4 and serves ipv6 and ipv6s", async () => {
    const { req } = testApp({ instances: [v6, only6] });
    const six = (p: string) => req(p, { from: "fd00:10::6" });
    expect((await six("/latest/meta-data/local-ipv4")).body).toBe("10.0.0.6");
    expect((await six("/latest/meta-data/ipv6")).body).toBe("FD00:10:0::6");
    const mac = `/latest/meta-data/network/interfaces/macs/${v6.macs[0]}`;
    expect((await six(`${mac}/ipv6s`)).body).toBe("FD00:10:0::6");
    expect((await six(`${mac}/local-ipv4s`)).body).toBe("10.0.0.6");
    const doc = JSON.parse((await six("/latest/dynamic/instance-identity/document")).body);
    expect(doc.privateIp).toBe("10.0.0.6");
    const seven = (p: string) => req(p, { from: "fd00:10::7" });
    expect((await seven("/latest/meta-data/")).body.split("\n")).not.toContain("local-ipv4");
    expect((await seven("/latest/meta-data/ipv6")).body).toBe("fd00:10::7");
    expect(
      JSON.parse((await seven("/latest/dynamic/instance-identity/document")).body),
    ).toMatchObject({ privateIp: null });
  });

  it("listens on fd00:ec2::254 too with ipv6 = yes", () => {
    const c = (t: string) => parseMdserverConfig("f", `[mdserver]\n${t}\n`).listen;
    expect(c("")).toEqual(["169.254.169.254"]);
    expect(c("ipv6 = yes")).toEqual(["169.254.169.254", "fd00:ec2::254"]);
    expect(c("ipv6 = yes\nlisten = 127.0.0.1, FD00:EC2::254")).toEqual([
      "127.0.0.1",
      "FD00:EC2::254",
    ]);
    expect(() => c("ipv6 = maybe")).toThrow('f: [mdserver] ipv6: "maybe" is not yes/no');
  });
});
