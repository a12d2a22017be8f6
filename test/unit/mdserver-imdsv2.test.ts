import { describe, expect, it } from "vitest";
import { TokenIssuer } from "../../mdserver/tokens.js";
import { instance, testApp } from "../helpers/app-fixture.js";

const PUT = (ttl?: string, extra: Record<string, string> = {}) => ({
  method: "PUT",
  headers: {
    ...(ttl === undefined ? {} : { "X-aws-ec2-metadata-token-ttl-seconds": ttl }),
    ...extra,
  },
});

describe("IMDSv2 tokens", () => {
  it("issues a token without a trailing newline and echoes the TTL", async () => {
    const { req } = testApp();
    const r = await req("/latest/api/token", PUT("21600"));
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(r.headers.get("x-aws-ec2-metadata-token-ttl-seconds")).toBe("21600");
    const got = await req("/latest/meta-data/instance-id", {
      headers: { "X-aws-ec2-metadata-token": r.body },
    });
    expect(got.status).toBe(200);
  });

  it.each([undefined, "0", "21601", "-5", "abc", "1.5", ""])(
    "refuses TTL %j with 400",
    async (ttl) => {
      const { req } = testApp();
      expect((await req("/latest/api/token", PUT(ttl))).status).toBe(400);
    },
  );

  it("refuses a PUT that came through a proxy (X-Forwarded-For) with 403", async () => {
    const { req } = testApp();
    expect(
      (await req("/latest/api/token", PUT("60", { "X-Forwarded-For": "1.2.3.4" }))).status,
    ).toBe(403);
  });

  it("answers 401 to a token another instance obtained", async () => {
    const other = instance({
      name: "db1",
      uuid: "99999999-8888-7777-6666-555555555555",
      addresses: ["10.0.0.6"],
    });
    const { req } = testApp({ instances: [instance(), other] });
    const token = (await req("/latest/api/token", { ...PUT("60"), from: "10.0.0.6" })).body;
    const r = await req("/latest/meta-data/instance-id", {
      headers: { "X-aws-ec2-metadata-token": token },
    });
    expect(r.status).toBe(401);
  });

  it("answers 401 to an expired or forged token", async () => {
    let now = 1_000_000_000_000;
    const tokens = new TokenIssuer(undefined, () => now);
    const { req } = testApp({ tokens });
    const token = (await req("/latest/api/token", PUT("2"))).body;
    const h = (t: string) => ({ headers: { "X-aws-ec2-metadata-token": t } });
    expect((await req("/latest/meta-data/", h(token))).status).toBe(200);
    now += 2001;
    expect((await req("/latest/meta-data/", h(token))).status).toBe(401);
    expect((await req("/latest/meta-data/", h(`${token.slice(0, -2)}AA`))).status).toBe(401);
    expect((await req("/latest/meta-data/", h("garbage"))).status).toBe(401);
  });

  it("lets tokenless GETs through when optional, and not when required", async () => {
    const { req, reload } = testApp();
    expect((await req("/2009-04-04/meta-data/instance-id")).status).toBe(200);
    reload("[mdserver]\nimdsv2 = required\n");
    expect((await req("/2009-04-04/meta-data/instance-id")).status).toBe(401);
    const token = (await req("/latest/api/token", PUT("60"))).body;
    const r = await req("/2009-04-04/meta-data/instance-id", {
      headers: { "X-aws-ec2-metadata-token": token },
    });
    expect(r.status).toBe(200);
  });
});
