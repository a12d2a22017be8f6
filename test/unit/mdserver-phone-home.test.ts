import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BootRecordStore } from "../../mdserver/boot-record-store.js";
import { silentLogger } from "../../mdserver/log.js";
import { instance, testApp } from "../helpers/app-fixture.js";
import { testDir } from "../helpers/test-dir.js";

// The store writes records in the background: removing a directory before its writes are
// done let them make it again (/tmp filled with md-state-* dirs).
const dirs: string[] = [];
const stores: BootRecordStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.settled()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = testDir("md-state-");
  dirs.push(dir);
  let tick = 0;
  const clock = () => new Date(Date.UTC(2026, 10, 23, 10, 0, tick++));
  const state = new BootRecordStore(dir, silentLogger, clock);
  stores.push(state);
  const t = testApp({ state });
  const file = join(dir, "instances", `${instance().uuid}.json`);
  return { ...t, state, read: () => JSON.parse(readFileSync(file, "utf8")) };
}

const form = (fields: Record<string, string>) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields).toString(),
});

describe("phone_home and boot progress", () => {
  it("records the first request once", async () => {
    const { req, read, state } = setup();
    await req("/latest/meta-data/instance-id");
    await req("/latest/meta-data/");
    await state.notePhoneHome(instance(), new URLSearchParams()); // waits for queued writes
    expect(read()).toMatchObject({
      name: "web1",
      instanceId: "i-3f6c1d2e8a4b4c7d9",
      firstRequest: "2026-11-23T10:00:00.000Z",
    });
  });

  it("stores the host keys cloud-init posts, skipping N/A", async () => {
    const { req, read } = setup();
    const r = await req(
      "/latest/phone-home",
      form({
        instance_id: "i-3f6c1d2e8a4b4c7d9",
        hostname: "web1",
        pub_key_ed25519: "ssh-ed25519 AAAAhostkey root@web1\n",
        pub_key_rsa: "N/A",
      }),
    );
    expect(r.status).toBe(200);
    expect(read().phoneHome).toEqual({
      time: "2026-11-23T10:00:01.000Z",
      hostname: "web1",
      hostKeys: { ed25519: "ssh-ed25519 AAAAhostkey root@web1" },
    });
  });

  it("refuses a report for another instance with 403 and records nothing", async () => {
    const { req, state } = setup();
    const r = await req(
      "/latest/phone-home",
      form({ instance_id: "i-00000000000000000", hostname: "x" }),
    );
    expect(r.status).toBe(403);
    expect((await state.read(instance().uuid))?.phoneHome).toBeUndefined();
  });

  it("answers a body over 64 KiB with 413 and records nothing", async () => {
    const { req, state } = setup();
    const r = await req("/latest/phone-home", form({ hostname: "x".repeat(70_000) }));
    expect(r.status).toBe(413);
    expect(r.headers.get("connection")).toBe("close");
    expect((await state.read(instance().uuid))?.phoneHome).toBeUndefined();
  });

  it("refuses a proxied report (X-Forwarded-For) with 403 and records nothing", async () => {
    const { req, state } = setup();
    const f = form({ hostname: "web1" });
    const r = await req("/latest/phone-home", {
      ...f,
      headers: { ...f.headers, "x-forwarded-for": "192.0.2.1" },
    });
    expect(r.status).toBe(403);
    expect((await state.read(instance().uuid))?.phoneHome).toBeUndefined();
  });

  it("needs a token under imdsv2 = required, like every GET", async () => {
    const dir = testDir("md-state-");
    dirs.push(dir);
    const state = new BootRecordStore(dir, silentLogger);
    stores.push(state);
    const { req } = testApp({ state, conf: "[mdserver]\nimdsv2 = required\n" });
    const f = form({ hostname: "web1" });
    expect((await req("/latest/phone-home", f)).status).toBe(401);
    const bad = { ...f.headers, "x-aws-ec2-metadata-token": "forged" };
    expect((await req("/latest/phone-home", { ...f, headers: bad })).status).toBe(401);
    expect((await state.read(instance().uuid))?.phoneHome).toBeUndefined();
    const token = await req("/latest/api/token", {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
    });
    const ok = { ...f.headers, "x-aws-ec2-metadata-token": token.body };
    expect((await req("/latest/phone-home", { ...f, headers: ok })).status).toBe(200);
    expect((await state.read(instance().uuid))?.phoneHome?.hostname).toBe("web1");
  });

  it("answers GET on phone-home with 405", async () => {
    const { req } = setup();
    expect((await req("/latest/phone-home")).status).toBe(405);
  });
});
