import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  instanceFromDomainXml,
  type MetadataFields,
  metadataFieldsOf,
  renderMetadataElement,
  renderMetadataForSet,
} from "../../lib/metadata-xml.js";
import { Inventory } from "../../mdserver/inventory/inventory.js";
import { parseEventLine } from "../../mdserver/inventory/libvirt-source.js";
import { parseInstancesYaml } from "../../mdserver/inventory/yaml-source.js";
import { instance, KEY_A } from "../helpers/app-fixture.js";

const fixture = (name: string) =>
  readFileSync(resolve(import.meta.dirname, "../fixtures", name), "utf8");

describe("libvirt domain metadata", () => {
  it("reads a real `virsh dumpxml` with our element next to someone else's", () => {
    const inst = instanceFromDomainXml(fixture("virsh-dumpxml-web1.xml"));
    expect(inst).toMatchObject({
      name: "web1",
      uuid: "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f",
      instanceId: "i-3f6c1d2e8a4b4c7d9",
      hostname: "web1",
      network: "net1",
      addresses: ["10.10.10.11"],
      macs: ["52:54:00:aa:bb:01", "52:54:00:aa:bb:02"],
      sshPwauth: false,
      userData: Buffer.from("#cloud-config\nruncmd: [[touch, /tmp/ok]]\n"),
      image: "debian-12",
      created: "2026-11-23T12:00:00Z",
      source: "libvirt",
    });
    expect(inst?.sshKeys.map((k) => k.name)).toEqual(["alice", "bob"]);
    expect(inst?.passwordHash).toMatch(/^\$6\$abcdefgh\$/);
  });

  it("reads back what renderMetadataElement writes, whatever needs escaping", () => {
    const md = renderMetadataElement({
      hostname: "a&b",
      addresses: ["10.0.0.1", "10.0.0.2"],
      sshKeys: [{ name: "k<1>", key: KEY_A }],
      userData: "#!/bin/sh\necho '<&>'\n",
      sshPwauth: true,
    });
    const xml = `<domain><name>x</name><uuid>11111111-2222-3333-4444-555555555555</uuid><metadata>${md}</metadata></domain>`;
    expect(instanceFromDomainXml(xml)).toMatchObject({
      hostname: "a&b",
      addresses: ["10.0.0.1", "10.0.0.2"],
      sshKeys: [{ name: "k<1>", key: KEY_A }],
      userData: Buffer.from("#!/bin/sh\necho '<&>'\n"),
      sshPwauth: true,
    });
  });

  it("gives back the fields of a record it reads, to write it again unchanged", () => {
    const fields: MetadataFields = {
      hostname: "h1",
      network: "net1",
      subnet: "10.10.10.0/24",
      gateway: "10.10.10.1",
      addresses: ["10.10.10.3"],
      sshKeys: [{ name: "a", key: KEY_A }],
      passwordHash: "$6$salt$hash",
      sshPwauth: false,
      userData: Buffer.from([0x1f, 0x8b, 0, 1]),
      image: "deb",
      instanceType: "c1m1024",
      created: "2026-01-01T00:00:00Z",
      loginUser: "debian",
    };
    const xml = `<domain><name>x</name><uuid>11111111-2222-3333-4444-555555555555</uuid><metadata>${renderMetadataElement(fields)}</metadata></domain>`;
    const read = instanceFromDomainXml(xml);
    expect(read && metadataFieldsOf(read)).toEqual(fields);
    const few = instanceFromDomainXml(
      xml.replace(
        /<metadata>.*<\/metadata>/s,
        renderMetadataElement({ addresses: [], sshKeys: [] }),
      ),
    );
    expect(few && metadataFieldsOf(few)).toStrictEqual({ addresses: [], sshKeys: [] });
  });

  it("renders the element for virsh metadata --set without a prefix or a namespace", () => {
    const fields = {
      network: "n&1",
      addresses: ["10.0.0.1"],
      sshKeys: [{ name: "k", key: KEY_A }],
    };
    expect(renderMetadataForSet(fields)).toBe(
      [
        "  <instance>",
        "    <network>n&amp;1</network>",
        "    <ip>10.0.0.1</ip>",
        `    <ssh-key name="k">${KEY_A}</ssh-key>`,
        "  </instance>",
      ].join("\n"),
    );
  });

  it("ignores an element with our name in another namespace", () => {
    const xml = `<domain><name>x</name><uuid>11111111-2222-3333-4444-555555555555</uuid><metadata>
      <vmctl:instance xmlns:vmctl="urn:other"><vmctl:ip>10.0.0.1</vmctl:ip></vmctl:instance></metadata></domain>`;
    expect(instanceFromDomainXml(xml)?.addresses).toEqual([]);
  });
});

describe("libvirt events", () => {
  it("parses virsh event lines, with or without --timestamp", () => {
    expect(parseEventLine("event 'lifecycle' for domain 'web1': Undefined Removed")).toEqual({
      kind: "lifecycle",
      domain: "web1",
      detail: "Undefined Removed",
    });
    expect(
      parseEventLine(
        "2026-11-23 11:54:54.948+0000: event 'metadata-change' for domain 'it's': type element, uri x",
      ),
    ).toMatchObject({ kind: "metadata-change", domain: "it's" });
    expect(parseEventLine("events received: 3")).toBeUndefined();
  });
});

describe("Inventory", () => {
  it("finds an instance by address and forgets it on remove", () => {
    const inv = new Inventory();
    inv.upsert(instance());
    expect(inv.lookup("10.0.0.5")?.name).toBe("web1");
    inv.remove("file", "web1");
    expect(inv.lookup("10.0.0.5")).toBeUndefined();
  });

  it("re-indexes an instance whose address changed", () => {
    const inv = new Inventory();
    inv.upsert(instance());
    inv.upsert(instance({ addresses: ["10.0.0.7"] }));
    expect(inv.lookup("10.0.0.5")).toBeUndefined();
    expect(inv.lookup("10.0.0.7")?.name).toBe("web1");
    expect(inv.size).toBe(1);
  });

  it("serves neither of two instances that claim one address, and reports it", () => {
    const inv = new Inventory();
    inv.upsert(instance());
    inv.upsert({ ...instance({ name: "other" }), source: "libvirt" });
    expect(inv.lookup("10.0.0.5")).toBeUndefined();
    expect(inv.conflicts()).toEqual(["10.0.0.5"]);
    const warned: unknown[] = [];
    inv.warnConflicts({
      log: (level, msg, fields) => warned.push({ level, msg, ...fields }),
      request() {},
    });
    expect(warned).toEqual([
      {
        level: "warn",
        msg: "address claimed by more than one instance; serving neither",
        address: "10.0.0.5",
        instances: ["file:web1", "libvirt:other"],
      },
    ]);
    inv.replaceAll("libvirt", []);
    expect(inv.lookup("10.0.0.5")?.name).toBe("web1");
  });
});

const UUID_A = "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6a";

describe("instances YAML", () => {
  it("reads entries with defaults", () => {
    const [a] = parseInstancesYaml(
      "i.yaml",
      `instances:\n  - name: a\n    ip: 10.0.0.9\n    mac: 52-54-00-AA-BB-CC\n    ssh-keys: ["${KEY_A}"]\n    subnet: 10.0.0.0/24\n`,
    );
    expect(a).toMatchObject({
      name: "a",
      subnet: "10.0.0.0/24",
      addresses: ["10.0.0.9"],
      macs: ["52:54:00:aa:bb:cc"],
      source: "file",
    });
    expect(a?.instanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(a?.sshKeys).toEqual([{ name: "default", key: KEY_A }]);
  });

  it.each([
    ["instances: [{ip: 10.0.0.1}]", "i.yaml: instances[0].name: required"],
    ["instances: [{name: a}]", "i.yaml: instances[0]: needs ip"],
    [
      "instances: [{name: a, ip: 10.0.0.300}]",
      'instances[0].ip: "10.0.0.300" is not an IP address',
    ],
    ["instances: [{name: a, ip: 10.0.0.1, colour: red}]", "instances[0].colour: unknown key"],
    [
      "instances: [{name: a, ip: 10.0.0.1}, {name: a, ip: 10.0.0.2}]",
      'instances[1].name: "a" is used twice',
    ],
    [
      "instances: [{name: a, ip: 10.0.0.1, password-hash: hunter2}]",
      "password-hash: not a crypt hash",
    ],
    [
      "instances: [{name: a, ip: 10.0.0.1, ssh-keys: [nope]}]",
      "ssh-keys.default: not an OpenSSH public key",
    ],
    ["instances: {a: 1}", 'expected a top-level "instances:" list'],
    ["instances: []\nextra: 1", "i.yaml: extra: unknown key (known: instances)"],
    ["instances: [7]", "i.yaml: instances[0]: expected a mapping with name and ip"],
    [
      "instances: [{name: a, ips: [10.0.0.1, 10.0.0.x]}]",
      'i.yaml: instances[0].ips[1]: "10.0.0.x" is not an IP address',
    ],
    ["instances: [{name: a, ip: 10.0.0.1, ssh-pwauth: 1}]", "ssh-pwauth: expected true or false"],
    ["instances: [{name: [a], ip: 10.0.0.1}]", "i.yaml: instances[0].name: expected text"],
    ["instances: [{name: a, ip: 10.0.0.1, mac: 52:54}]", 'instances[0].mac: "52:54" is not a MAC'],
    [
      "instances: [{name: a, ip: 10.0.0.1, uuid: not-a-uuid}]",
      'i.yaml: instances[0].uuid: "not-a-uuid" is not a UUID',
    ],
    [
      `instances:\n  - {name: a, ip: 10.0.0.1, uuid: ${UUID_A}}\n  - {name: b, ip: 10.0.0.2, uuid: ${UUID_A.toUpperCase()}}`,
      `i.yaml: instances[1].uuid: "${UUID_A}" is used twice (instances[0])`,
    ],
    [
      `instances:\n  - {name: a, ip: 10.0.0.1, uuid: ${UUID_A}}\n  - {name: b, ip: 10.0.0.2, uuid: ${UUID_A.slice(0, -1)}f}`,
      "i.yaml: instances[1].uuid: gives instance-id i-3f6c1d2e8a4b4c7d9 like instances[0] (the first 17 hex digits must differ)",
    ],
    [
      "instances: [{name: a, ip: 10.0.0.1, subnet: 10.0.0.0/33}]",
      'i.yaml: instances[0].subnet: "10.0.0.0/33" is not a CIDR like 10.0.0.0/24',
    ],
    ["instances: [\n  - {name: a", "i.yaml: not valid YAML"],
  ])("refuses %j with one clear line", (text, message) => {
    expect(() => parseInstancesYaml("i.yaml", text)).toThrow(message);
    expect(() => parseInstancesYaml("i.yaml", text)).not.toThrow(/\n/);
  });
});
