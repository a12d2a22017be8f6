import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceIdFromUuid } from "../../lib/instance.js";
import { inNsAsync, MdNetwork } from "../helpers/md-netns.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";

const CLIENT = resolve(import.meta.dirname, "../helpers/aws-python-clients.py");
const UUID = "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
const net = new MdNetwork();
const dir = mkdtempSync(join(tmpdir(), "mdserver-awspy-"));
const server = new MdserverProcess(net.server, join(dir, "mdserver.conf"));
let vm = "";

describe("mdserver with AWS's Python clients (boto, botocore)", () => {
  beforeAll(async () => {
    net.create();
    vm = net.addVm("10.10.10.43");
    writeFileSync(
      join(dir, "instances.yaml"),
      `instances:\n  - {name: py1, ip: 10.10.10.43, uuid: ${UUID}}\n`,
    );
    writeFileSync(
      join(dir, "mdserver.conf"),
      `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/state\nregion = eu-lab-1\navailability-zone = eu-lab-1b\ninstances-file = ${join(dir, "instances.yaml")}\n`,
    );
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives boto its identity and botocore its region through the trailing-slash paths", async () => {
    const out = JSON.parse(await inNsAsync(vm, "/usr/bin/python3", [CLIENT])) as {
      boto_identity: { document: { instanceId: string; region: string } } | null;
      botocore_region: string | null;
    };
    expect(out.boto_identity?.document).toMatchObject({
      instanceId: instanceIdFromUuid(UUID),
      region: "eu-lab-1",
    });
    expect(out.botocore_region).toBe("eu-lab-1");
    // Log lines leave in batches, up to 10 ms after the answer.
    await server.waitFor((l) => l.path === "/latest/meta-data/placement/availability-zone/");
    const paths = server.requests().map((l) => `${l.status} ${l.path}`);
    expect(paths).toContain("200 /latest/dynamic/instance-identity//document/");
    expect(paths).toContain("200 /latest/meta-data/placement/availability-zone/");
  });
});
