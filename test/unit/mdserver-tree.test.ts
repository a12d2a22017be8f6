import { describe, expect, it } from "vitest";
import { VERSIONS } from "../../mdserver/app.js";
import { instance, KEY_A, KEY_B, testApp } from "../helpers/app-fixture.js";

/** Walks the tree the way cloud-init does: every listed entry must answer 200. */
async function crawl(req: ReturnType<typeof testApp>["req"], path: string, seen: string[] = []) {
  const r = await req(path);
  expect(r.status, path).toBe(200);
  seen.push(path);
  if (!path.endsWith("/")) return seen;
  for (const line of r.body.split("\n")) {
    const entry = line.includes("=") ? `${line.split("=")[0]}/` : line;
    await crawl(req, `${path}${entry}`, seen);
  }
  return seen;
}

describe("the EC2 metadata tree", () => {
  it("lists the versions at / and serves the same tree under each", async () => {
    const { req } = testApp();
    expect((await req("/")).body).toBe(VERSIONS.join("\n"));
    const bodies = new Set<string>();
    for (const v of VERSIONS) bodies.add((await req(`/${v}/meta-data/instance-id`)).body);
    expect([...bodies]).toEqual(["i-3f6c1d2e8a4b4c7d9"]);
  });

  it("answers every entry it lists, and leaves carry no trailing newline", async () => {
    const { req } = testApp();
    const seen = await crawl(req, "/2021-03-23/meta-data/");
    expect(seen).toContain("/2021-03-23/meta-data/public-keys/0/openssh-key");
    expect(seen).toContain("/2021-03-23/meta-data/placement/availability-zone");
    expect(seen).toContain(
      "/2021-03-23/meta-data/network/interfaces/macs/52:54:00:00:00:05/local-ipv4s",
    );
    for (const path of seen.filter((p) => !p.endsWith("/"))) {
      expect((await req(path)).body, path).not.toMatch(/\n$/);
    }
  });

  it("answers directories and leaves with and without the trailing slash", async () => {
    const { req } = testApp();
    const a = await req("/latest/meta-data/placement");
    const b = await req("/latest/meta-data/placement/");
    expect(a).toMatchObject({ status: 200, body: "availability-zone\nregion" });
    expect(b.body).toBe(a.body);
    expect(await req("/latest/meta-data/instance-id/")).toMatchObject({
      status: 200,
      body: "i-3f6c1d2e8a4b4c7d9",
    });
    // The paths AWS's own tools hard-code (botocore's region lookup, boto's identity).
    expect(await req("/latest/meta-data/placement/availability-zone/")).toMatchObject({
      status: 200,
      body: "local-1a",
    });
    const doc = await req("/latest/dynamic/instance-identity//document/");
    expect(doc.status).toBe(200);
    expect(JSON.parse(doc.body)).toMatchObject({ instanceId: "i-3f6c1d2e8a4b4c7d9" });
    expect((await req("/latest/user-data/")).status).toBe(200);
  });

  it("collapses // (the AWS SDK asks for //latest/...)", async () => {
    const { req } = testApp();
    expect((await req("//latest//meta-data///instance-id")).body).toBe("i-3f6c1d2e8a4b4c7d9");
  });

  it("lists keys as N=name and serves each from N/openssh-key", async () => {
    const { req } = testApp({ conf: `[mdserver]\n[public-keys]\nbob = ${KEY_B}\n` });
    expect((await req("/latest/meta-data/public-keys/")).body).toBe("0=alice\n1=bob");
    expect((await req("/latest/meta-data/public-keys/0")).body).toBe("openssh-key");
    expect((await req("/latest/meta-data/public-keys/1/openssh-key")).body).toBe(KEY_B);
    expect((await req("/latest/meta-data/public-keys/0/openssh-key")).body).toBe(KEY_A);
  });

  it("serves network/interfaces/macs/ shaped as AWS's by default", async () => {
    const { req } = testApp();
    expect((await req("/latest/meta-data/")).body.split("\n")).toContain("network/");
    const mac = "/latest/meta-data/network/interfaces/macs/52:54:00:00:00:05";
    expect((await req("/latest/meta-data/network/interfaces/macs/")).body).toBe(
      "52:54:00:00:00:05/",
    );
    expect((await req(`${mac}/`)).body.split("\n")).toEqual([
      "device-number",
      "interface-id",
      "local-hostname",
      "local-ipv4s",
      "mac",
      "owner-id",
      "security-group-ids",
      "security-groups",
      "subnet-id",
      "subnet-ipv4-cidr-block",
      "vpc-id",
      "vpc-ipv4-cidr-block",
      "vpc-ipv4-cidr-blocks",
    ]);
    const leaf = async (name: string) => (await req(`${mac}/${name}`)).body;
    expect(await leaf("device-number")).toBe("0");
    expect(await leaf("local-ipv4s")).toBe("10.0.0.5");
    expect(await leaf("mac")).toBe("52:54:00:00:00:05");
    expect(await leaf("owner-id")).toBe("000000000000");
    expect(await leaf("subnet-ipv4-cidr-block")).toBe("10.0.0.0/24");
    expect(await leaf("vpc-ipv4-cidr-blocks")).toBe("10.0.0.0/24");
    expect(await leaf("interface-id")).toMatch(/^eni-[0-9a-f]{17}$/);
    expect(await leaf("vpc-id")).toMatch(/^vpc-[0-9a-f]{17}$/);
    expect(await leaf("subnet-id")).toMatch(/^subnet-[0-9a-f]{17}$/);
    expect(await leaf("security-group-ids")).toMatch(/^sg-[0-9a-f]{17}$/);
  });

  it("gives VMs of one network one vpc-id, and each interface its own interface-id", async () => {
    const other = instance({
      name: "web2",
      uuid: "aaaaaaaa-8a4b-4c7d-9e0f-1a2b3c4d5e6f",
      addresses: ["10.0.0.6"],
      macs: ["52:54:00:00:00:06"],
    });
    const { req } = testApp({ instances: [instance(), other] });
    const get = async (from: string, mac: string, name: string) =>
      (await req(`/latest/meta-data/network/interfaces/macs/${mac}/${name}`, { from })).body;
    expect(await get("10.0.0.6", "52:54:00:00:00:06", "vpc-id")).toBe(
      await get("10.0.0.5", "52:54:00:00:00:05", "vpc-id"),
    );
    expect(await get("10.0.0.6", "52:54:00:00:00:06", "interface-id")).not.toBe(
      await get("10.0.0.5", "52:54:00:00:00:05", "interface-id"),
    );
  });

  it("leaves out the CIDR blocks of a record that carries no subnet", async () => {
    const { req } = testApp({ instances: [instance({ subnet: undefined })] });
    const listing = (await req("/latest/meta-data/network/interfaces/macs/52:54:00:00:00:05/"))
      .body;
    expect(listing).toContain("vpc-id");
    expect(listing).not.toContain("cidr-block");
  });

  it("lists no network/ with network-interfaces = no", async () => {
    const { req } = testApp({ conf: "[mdserver]\nnetwork-interfaces = no\n" });
    expect((await req("/latest/meta-data/")).body.split("\n")).not.toContain("network/");
    expect((await req("/latest/meta-data/network/")).status).toBe(404);
  });

  it("answers unknown paths and versions with a plain-text 404", async () => {
    const { req } = testApp();
    for (const p of [
      "/latest/meta-data/nope",
      "/1999-01-01/meta-data/",
      "/latest/meta-data/public-keys/7/",
    ]) {
      const r = await req(p);
      expect(r).toMatchObject({ status: 404, body: "Not Found" });
      expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    }
  });

  it("refuses an oversized path with 414", async () => {
    const { req } = testApp();
    expect((await req(`/latest/${"a/".repeat(400)}`)).status).toBe(414);
  });

  it("shapes the identity document as AWS does", async () => {
    const { req } = testApp();
    const r = await req("/2021-03-23/dynamic/instance-identity");
    expect(r.body).toBe("document");
    const doc = (await req("/2021-03-23/dynamic/instance-identity/document")).body;
    expect(doc).toContain('"instanceId" : "i-3f6c1d2e8a4b4c7d9"');
    expect(JSON.parse(doc)).toMatchObject({
      privateIp: "10.0.0.5",
      pendingTime: "2026-01-02T03:04:05Z",
      version: "2017-09-30",
      architecture: "x86_64",
    });
  });

  it("answers 404 on every path to an address that is no instance", async () => {
    const { req } = testApp();
    for (const p of ["/", "/latest/meta-data/", "/latest/user-data"]) {
      expect((await req(p, { from: "10.0.0.99" })).status).toBe(404);
    }
    expect((await req("/latest/api/token", { method: "PUT", from: "10.0.0.99" })).status).toBe(404);
  });

  it("serves nobody from an address two instances claim", async () => {
    const { req } = testApp({
      instances: [
        instance(),
        instance({ name: "twin", uuid: "11111111-2222-3333-4444-555555555555" }),
      ],
    });
    expect((await req("/latest/meta-data/instance-id")).status).toBe(404);
  });

  it("refuses other methods with 405", async () => {
    const { req } = testApp();
    expect((await req("/latest/meta-data/", { method: "POST" })).status).toBe(405);
    expect((await req("/latest/api/token")).status).toBe(405);
  });
});
