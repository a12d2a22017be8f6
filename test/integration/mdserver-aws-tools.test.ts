import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceIdFromUuid } from "../../lib/instance.js";
import { inNsAsync, MdNetwork } from "../helpers/md-netns.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";

const UUID = "7e1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d7";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa alice";
const net = new MdNetwork();
const dir = mkdtempSync(join(tmpdir(), "mdserver-awstools-"));
const server = new MdserverProcess(net.server, join(dir, "mdserver.conf"));
let vm = "";

/** A command in the VM namespace with an empty environment (no AWS_* settings, no ~/.aws). */
const inVm = (file: string, args: string[]) =>
  inNsAsync(vm, "env", ["-i", `HOME=${dir}/home`, "PATH=/usr/bin:/bin", file, ...args]);

describe("mdserver with the AWS tools Debian ships (ec2metadata, ec2-metadata, awscli)", () => {
  beforeAll(async () => {
    net.create();
    vm = net.addVm("10.10.10.44");
    writeFileSync(
      join(dir, "instances.yaml"),
      `instances:\n  - {name: tools1, ip: 10.10.10.44, uuid: ${UUID}, hostname: tools1, ssh-keys: {alice: "${KEY}"}}\n`,
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

  it("ec2metadata (cloud-guest-utils) prints the VM's own values", async () => {
    expect(await inVm("/usr/bin/ec2metadata", ["--instance-id"])).toBe(
      `${instanceIdFromUuid(UUID)}\n`,
    );
    expect(await inVm("/usr/bin/ec2metadata", ["--local-hostname"])).toBe("tools1\n");
    expect(await inVm("/usr/bin/ec2metadata", ["--local-ipv4"])).toBe("10.10.10.44\n");
    expect(await inVm("/usr/bin/ec2metadata", ["--availability-zone"])).toBe("eu-lab-1b\n");
    // It prints the keys as a Python list (its own formatting).
    expect(await inVm("/usr/bin/ec2metadata", ["--public-keys"])).toBe(`['${KEY}']\n`);
    // Without options: every value it knows; those mdserver has no source for (public
    // address, kernel, product codes...) say "unavailable".
    const all = await inVm("/usr/bin/ec2metadata", []);
    expect(all).toContain(`instance-id: ${instanceIdFromUuid(UUID)}\n`);
    expect(all).toContain("local-hostname: tools1\n");
    expect(all).toContain("ami-launch-index: 0\n");
  });

  it("ec2-metadata (amazon-ec2-utils) gets an IMDSv2 token and the VM's own values", async () => {
    const out = await inVm("/usr/bin/ec2-metadata", ["-i", "-h", "-o", "-z", "-e", "-u"]);
    expect(out).toBe(
      `instance-id: ${instanceIdFromUuid(UUID)}\nlocal-hostname: tools1\nlocal-ipv4: 10.10.10.44\nplacement: eu-lab-1b\nreservation-id: r-${instanceIdFromUuid(UUID).slice(2)}\npublic-keys: \nkeyname:alice\nindex:0\nformat:openssh-key\nkey:(begins from next line)\n${KEY}\n`,
    );
    await server.waitFor((l) => l.method === "PUT" && l.path === "/latest/api/token");
    const tokened = server.requests().filter((l) => l.path === "/latest/meta-data/instance-id");
    expect(tokened.some((l) => l.token === true && l.status === 200)).toBe(true);
  });

  it("awscli finds its region through IMDS (aws configure list)", async () => {
    const out = await inVm("/usr/bin/aws", ["configure", "list"]);
    expect(out).toMatch(/^\s*region\s+eu-lab-1\s+imds\s*$/m);
  });
});
