import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
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
    expect(await get(instance({ userData: "#!/bin/sh\nrecord\n" }))).toBe("#!/bin/sh\nrecord\n");
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
});
