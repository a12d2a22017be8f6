import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceIdFromUuid } from "../../lib/instance.js";
import { inNsAsync, MdNetwork } from "../helpers/md-netns.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";

const CLIENT = resolve(import.meta.dirname, "../helpers/aws-sdk-client.mjs");
const UUID = "0b5f7c1a-2d3e-4f50-8a6b-7c8d9e0f1a2b";
const net = new MdNetwork();
const dir = mkdtempSync(join(tmpdir(), "mdserver-sdk-"));
const server = new MdserverProcess(net.server, join(dir, "mdserver.conf"));
let vm = "";

async function sdk(mode: "v1" | "v2", ...paths: string[]): Promise<Record<string, string>> {
  return JSON.parse(await inNsAsync(vm, process.execPath, [CLIENT, mode, ...paths])) as Record<
    string,
    string
  >;
}

describe("mdserver with the AWS SDK for JavaScript's IMDS client", () => {
  beforeAll(async () => {
    net.create();
    vm = net.addVm("10.10.10.41");
    writeFileSync(
      join(dir, "instances.yaml"),
      `instances:\n  - {name: sdk1, ip: 10.10.10.41, uuid: ${UUID}}\n`,
    );
    writeFileSync(
      join(dir, "mdserver.conf"),
      `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/state\ninstances-file = ${join(dir, "instances.yaml")}\n`,
    );
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers IMDSv2: a token first, then every GET with it", async () => {
    const r = await sdk(
      "v2",
      "/latest/meta-data/instance-id",
      "/latest/dynamic/instance-identity/document",
    );
    expect(r["/latest/meta-data/instance-id"]).toBe(instanceIdFromUuid(UUID));
    expect(JSON.parse(r["/latest/dynamic/instance-identity/document"] as string)).toMatchObject({
      instanceId: instanceIdFromUuid(UUID),
      privateIp: "10.10.10.41",
    });
    await server.waitFor(() => server.requests().length >= 4);
    // The SDK PUTs a fresh token before each GET, and asks for `//latest/...`.
    const lines = server.requests().map((l) => [l.method, l.path, l.status, l.token]);
    expect(lines).toEqual([
      ["PUT", "/latest/api/token", 200, false],
      ["GET", "//latest/meta-data/instance-id", 200, true],
      ["PUT", "/latest/api/token", 200, false],
      ["GET", "//latest/dynamic/instance-identity/document", 200, true],
    ]);
  });

  it("answers IMDSv1 without a token", async () => {
    const before = server.requests().length;
    const r = await sdk("v1", "/latest/meta-data/local-hostname");
    expect(r["/latest/meta-data/local-hostname"]).toBe("sdk1");
    await server.waitFor(() => server.requests().length > before);
    expect(server.requests().slice(before)).toEqual([
      expect.objectContaining({ method: "GET", token: false, status: 200 }),
    ]);
  });
});
