import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { instanceFromDomainXml, renderMetadataElement } from "../../lib/metadata-xml.js";
import { parseInstancesYaml } from "../../mdserver/inventory/yaml-source.js";
import { readOptional } from "../../mdserver/load.js";
import { instance, KEY_A, testApp } from "../helpers/app-fixture.js";

describe("user-data", () => {
  it("makes a #cloud-config from the instance record and config", async () => {
    const { req } = testApp({
      conf: "[mdserver]\npassword = s3cret\ndomain = lab.example\nssh-pwauth = no\n",
    });
    const r = await req("/2021-03-23/user-data");
    expect(r.body.startsWith("#cloud-config\n")).toBe(true);
    const cfg = yaml.load(r.body) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      hostname: "web1",
      fqdn: "web1.lab.example",
      ssh_authorized_keys: [KEY_A],
      chpasswd: { expire: false },
      ssh_pwauth: false,
    });
    expect(cfg.password).toMatch(/^\$6\$/);
    expect(r.body).not.toContain("s3cret");
    // A meta-data key: cloud-init 24+'s schema rejects it in cloud-config.
    expect(cfg).not.toHaveProperty("local-hostname");
    expect((await req("/latest/meta-data/local-hostname")).body).toBe("web1.lab.example");
  });

  it("prefers the instance's own password hash and hostname", async () => {
    const { req } = testApp({
      conf: "[mdserver]\npassword = s3cret\nhostname-prefix = vm-\n",
      instances: [instance({ passwordHash: "$6$abc$def", hostname: "custom" })],
    });
    const cfg = yaml.load((await req("/latest/user-data")).body) as Record<string, unknown>;
    expect(cfg).toMatchObject({ password: "$6$abc$def", hostname: "custom" });
  });

  it("uses hostname-prefix when the record names no hostname", async () => {
    const { req } = testApp({ conf: "[mdserver]\nhostname-prefix = vm-\n" });
    expect((await req("/latest/meta-data/local-hostname")).body).toBe("vm-web1");
  });

  it("serves overrides verbatim: record, then domain name, then MAC, then default", async () => {
    const files = {
      "/ud/web1": "by-name",
      "/ud/52:54:00:00:00:05": "by-mac",
      "/ud/default": "default",
    };
    const get = async (inst = instance(), f: Record<string, string> = files) =>
      (await testApp({ instances: [inst], files: f }).req("/latest/user-data")).body;
    expect(await get(instance({ userData: Buffer.from("#!/bin/sh\nrecord\n") }))).toBe(
      "#!/bin/sh\nrecord\n",
    );
    expect(await get()).toBe("by-name");
    expect(
      await get(instance(), { "/ud/52-54-00-00-00-05": "dashed", "/ud/default": "default" }),
    ).toBe("dashed");
    expect(await get(instance(), { "/ud/default": "default" })).toBe("default");
  });

  it("never reads a file outside the userdata directory for an odd domain name", async () => {
    const { req } = testApp({
      instances: [instance({ name: "../../etc/passwd", macs: [] })],
      files: { "/etc/passwd": "root:x:0:0" },
    });
    expect((await req("/latest/user-data")).body).toMatch(/^#cloud-config/);
  });

  it("answers 404 when nothing applies and generation is off, and lists no user-data", async () => {
    const { req } = testApp({ conf: "[mdserver]\ngenerate-user-data = no\n" });
    expect((await req("/latest/user-data")).status).toBe(404);
    expect((await req("/latest/")).body).toBe("meta-data/\ndynamic/");
  });

  it("serves a gzip'd file byte for byte with its own Content-Length", async () => {
    const gz = gzipSync("#cloud-config\nruncmd: [[echo, zipped]]\n");
    const { app } = testApp({ files: { "/ud/web1": gz } });
    const res = await app.request("http://169.254.169.254/2021-03-23/user-data", {
      headers: { "x-test-client": "10.0.0.5" },
    });
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(gz)).toBe(true);
    expect(res.headers.get("content-length")).toBe(String(gz.length));
    expect(gunzipSync(body).toString()).toBe("#cloud-config\nruncmd: [[echo, zipped]]\n");
  });

  it("keeps the bytes of a domain's base64 user-data and a YAML !!binary one", async () => {
    const gz = gzipSync("#!/bin/sh\necho hi\n");
    const xml = `<domain><name>x</name><uuid>11111111-2222-3333-4444-555555555555</uuid><metadata>${renderMetadataElement({ addresses: ["10.0.0.5"], sshKeys: [], userData: gz })}</metadata></domain>`;
    expect(instanceFromDomainXml(xml)?.userData?.equals(gz)).toBe(true);
    const [y] = parseInstancesYaml(
      "i.yaml",
      `instances:\n  - {name: a, ip: 10.0.0.1, user-data: !!binary ${gz.toString("base64")}}\n`,
    );
    expect(y?.userData?.equals(gz)).toBe(true);
  });

  it("refuses a record's user-data over AWS's 16 KiB, in the YAML file and when serving", async () => {
    const big = "x".repeat(16 * 1024 + 1);
    expect(() =>
      parseInstancesYaml("i.yaml", `instances:\n  - {name: a, ip: 10.0.0.1, user-data: ${big}}\n`),
    ).toThrow("i.yaml: instances[0].user-data: more than 16384 bytes (AWS's limit");
    const errors: string[] = [];
    const log = {
      log: (_l: string, _m: string, f?: Record<string, unknown>) => errors.push(String(f?.error)),
      request() {},
    };
    const { req } = testApp({ instances: [instance({ userData: Buffer.from(big) })], log });
    expect((await req("/latest/user-data")).status).toBe(500);
    expect(errors).toContain(
      "file:web1: user-data has 16385 bytes, more than 16384 (use a file in userdata-dir)",
    );
  });

  it("reads userdata-dir files as bytes and refuses one over 1 MiB", async () => {
    const dir = mkdtempSync(join(tmpdir(), "md-ud-"));
    try {
      const gz = gzipSync(randomBytes(1000));
      writeFileSync(join(dir, "small"), gz);
      writeFileSync(join(dir, "big"), Buffer.alloc(1024 * 1024 + 1));
      expect((await readOptional(join(dir, "small")))?.equals(gz)).toBe(true);
      expect(await readOptional(join(dir, "absent"))).toBeUndefined();
      await expect(readOptional(join(dir, "big"))).rejects.toThrow(
        `${join(dir, "big")}: 1048577 bytes; a user-data file may have at most 1048576`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
