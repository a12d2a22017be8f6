import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceIdFromUuid } from "../../lib/instance.js";
import { inNsAsync, MdNetwork } from "../helpers/md-netns.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";

const CLIENT = resolve(import.meta.dirname, "../helpers/ec2-client.py");
const OPENSTACK_CLIENT = resolve(import.meta.dirname, "../helpers/openstack-client.py");
const BUILD_CHROOT = resolve(import.meta.dirname, "../helpers/build-cloud-init-chroot.sh");
const ALICE =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa alice@laptop";
const ADMIN =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb admin@host";
const WEB_UUID = "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f";
const AWS_UUID = "ec2e1916-9099-7caf-fd21-012345abcdef";
const OVERRIDE = "#!/bin/sh\necho custom user-data for db1\n";
const ZIPPED = "#cloud-config\nruncmd: [[echo, unpacked by cloud-init]]\n";
const GZ = gzipSync(ZIPPED);

interface ClientResult {
  found: boolean;
  platform: string;
  instance_id?: string;
  local_hostname?: string;
  public_keys?: string[];
  userdata?: string | null;
  userdata_sha256?: string;
  userdata_parts?: (string | null)[];
  identity?: Record<string, unknown>;
  api_version?: string;
  network_config?: unknown;
  version: string;
  warnings: string[];
  requests: number;
}

/** Debian trixie's cloud-init (25.x), in a cached chroot; the clients are copied into it. */
const trixie = { root: "", client: "", openstack: "" };

interface OpenstackResult {
  found: boolean;
  platform: string;
  instance_id?: string;
  local_hostname?: string;
  public_keys?: string[];
  userdata?: string;
  interfaces?: string;
  version: string;
  warnings: string[];
  requests: number;
}

/** Runs cloud-init's own DataSourceOpenStack inside a VM namespace, for a guest NIC. */
async function openstackClient(
  vm: string,
  nic: string,
  inTrixie: boolean,
): Promise<OpenstackResult> {
  const args = [inTrixie ? trixie.openstack : OPENSTACK_CLIENT, "--nic", nic];
  const out = inTrixie
    ? await inNsAsync(vm, "chroot", [trixie.root, "/usr/bin/python3", ...args])
    : await inNsAsync(vm, "/usr/bin/python3", args);
  const r = JSON.parse(out) as OpenstackResult;
  const client = inNsAddress(vm);
  await server.waitFor(
    () => server.requests().filter((l) => l.client === client).length >= r.requests,
  );
  return r;
}

/** Runs cloud-init's own DataSourceEc2 inside a VM namespace. */
async function cloudInit(
  vm: string,
  opts: {
    uuid?: string;
    serial?: string;
    maxWait?: number;
    phoneHome?: boolean;
    nic?: string;
    trixie?: boolean;
  } = {},
): Promise<ClientResult> {
  const args = [opts.trixie ? trixie.client : CLIENT, "--max-wait", String(opts.maxWait ?? 20)];
  if (opts.uuid) args.push("--uuid", opts.uuid);
  if (opts.serial) args.push("--serial", opts.serial);
  if (opts.phoneHome) args.push("--phone-home");
  if (opts.nic) args.push("--nic", opts.nic);
  // Debian's python3, where the cloud-init package lives (not whatever python3 is first on PATH).
  const out = opts.trixie
    ? await inNsAsync(vm, "chroot", [trixie.root, "/usr/bin/python3", ...args])
    : await inNsAsync(vm, "/usr/bin/python3", args);
  const r = JSON.parse(out) as ClientResult;
  // Wait until mdserver has logged every request the client made.
  const client = inNsAddress(vm);
  await server.waitFor(
    () => server.requests().filter((l) => l.client === client).length >= r.requests,
  );
  return r;
}

const net = new MdNetwork();
const dir = mkdtempSync(join(tmpdir(), "mdserver-ci-"));
const server = new MdserverProcess(net.server, join(dir, "mdserver.conf"));
const vms: Record<string, string> = {};
const addresses = new Map<string, string>();

function inNsAddress(vm: string): string {
  return addresses.get(vm) as string;
}

function addVm(address: string): string {
  const vm = net.addVm(address);
  addresses.set(vm, address);
  return vm;
}

describe("mdserver with Debian's cloud-init datasources (EC2, OpenStack) as the client", () => {
  beforeAll(async () => {
    net.create();
    vms.web = addVm("10.10.10.11");
    vms.aws = addVm("10.10.10.12");
    vms.db = addVm("10.10.10.13");
    vms.stranger = addVm("10.10.10.99");
    vms.gz = addVm("10.10.10.14");
    writeFileSync(
      join(dir, "instances.yaml"),
      [
        "instances:",
        `  - {name: web1, ip: 10.10.10.11, uuid: ${WEB_UUID}, mac: "52:54:00:00:00:11",`,
        "     subnet: 10.10.10.0/24, gateway: 10.10.10.1,",
        `     ssh-keys: {alice: "${ALICE}"}}`,
        `  - {name: aws1, ip: 10.10.10.12, uuid: ${AWS_UUID}}`,
        "  - {name: db1, ip: 10.10.10.13}",
        "  - {name: gz1, ip: 10.10.10.14}",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "db1"), OVERRIDE);
    writeFileSync(join(dir, "gz1"), GZ);
    writeFileSync(
      join(dir, "mdserver.conf"),
      [
        "[mdserver]",
        `state-dir = ${dir}/state`,
        "password = correct horse",
        "libvirt = no",
        `instances-file = ${join(dir, "instances.yaml")}`,
        `userdata-dir = ${dir}`,
        "[public-keys]",
        `admin = ${ADMIN}`,
        "",
      ].join("\n"),
    );
    await server.start();
    const built = await promisify(execFile)("bash", [BUILD_CHROOT, "trixie"], {
      timeout: 600_000,
    });
    trixie.root = built.stdout.trim().split("\n").pop() ?? "";
    const inside = `/tmp/${net.id}`;
    mkdirSync(join(trixie.root, inside), { recursive: true });
    copyFileSync(CLIENT, join(trixie.root, inside, "ec2-client.py"));
    trixie.client = `${inside}/ec2-client.py`;
    copyFileSync(OPENSTACK_CLIENT, join(trixie.root, inside, "openstack-client.py"));
    trixie.openstack = `${inside}/openstack-client.py`;
  }, 660_000);

  afterAll(async () => {
    await server.stop();
    net.destroy();
    if (trixie.client) rmSync(join(trixie.root, "tmp", net.id), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives a plain KVM guest (IMDSv1) its instance-id, hostname, keys and password", async () => {
    const r = await cloudInit(vms.web as string, { phoneHome: true });
    expect(r.found).toBe(true);
    expect(r.platform).toBe("unknown");
    expect(r.api_version).toBe("2021-03-23");
    expect(r.instance_id).toBe(instanceIdFromUuid(WEB_UUID));
    expect(r.local_hostname).toBe("web1");
    expect(r.public_keys).toEqual([ALICE, ADMIN]);
    expect(r.userdata).toMatch(/^#cloud-config\n/);
    expect(r.userdata).toMatch(/\npassword: \$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}\n/);
    expect(r.userdata).toContain("chpasswd:\n  expire: false");
    expect(r.userdata).not.toContain("correct horse");
    const web = server.requests().filter((l) => l.instance === "web1");
    expect(web.some((l) => l.method === "PUT")).toBe(false);
    expect(web.every((l) => l.status === 200)).toBe(true);
    expect(r.userdata).toContain("phone_home:\n  url: http://169.254.169.254/latest/phone-home");
  });

  it("records the first request and cloud-init's phone_home for vmctl", async () => {
    const state = JSON.parse(
      readFileSync(join(dir, "state/instances", `${WEB_UUID}.json`), "utf8"),
    );
    expect(state).toMatchObject({
      name: "web1",
      instanceId: instanceIdFromUuid(WEB_UUID),
      phoneHome: { hostname: "web1", fqdn: "web1" },
    });
    expect(Date.parse(state.firstRequest)).toBeLessThanOrEqual(Date.parse(state.phoneHome.time));
    const post = server.requests().find((l) => l.method === "POST");
    expect(post).toMatchObject({ instance: "web1", path: "/latest/phone-home", status: 200 });
  });

  it("takes an AWS-identified guest through IMDSv2 and serves its identity document", async () => {
    const r = await cloudInit(vms.aws as string, {
      uuid: AWS_UUID,
      serial: AWS_UUID.toUpperCase(),
    });
    expect(r.found).toBe(true);
    expect(r.platform).toBe("aws");
    expect(r.instance_id).toBe(instanceIdFromUuid(AWS_UUID));
    expect(r.identity).toMatchObject({
      instanceId: instanceIdFromUuid(AWS_UUID),
      privateIp: "10.10.10.12",
      region: "local-1",
    });
    const aws = server.requests().filter((l) => l.instance === "aws1");
    expect(aws[0]).toMatchObject({ method: "PUT", path: "/latest/api/token", status: 200 });
    const gets = aws.filter((l) => l.method === "GET");
    expect(gets.length).toBeGreaterThan(10);
    expect(gets.every((l) => l.token === true && l.status === 200)).toBe(true);
  });

  it("serves a user-data file named after the domain verbatim", async () => {
    const r = await cloudInit(vms.db as string);
    expect(r.found).toBe(true);
    expect(r.local_hostname).toBe("db1");
    expect(r.userdata).toBe(OVERRIDE);
  });

  it("serves a gzip'd user-data file byte for byte, and cloud-init unpacks it", async () => {
    const r = await cloudInit(vms.gz as string);
    expect(r.found).toBe(true);
    expect(r.userdata).toBeNull(); // not text: the gzip bytes themselves
    expect(r.userdata_sha256).toBe(createHash("sha256").update(GZ).digest("hex"));
    expect(r.userdata_parts).toEqual([ZIPPED]);
  });

  it("gives a guest at an unknown address no datasource, and logs it once", async () => {
    const r = await cloudInit(vms.stranger as string, { maxWait: 3 });
    expect(r.found).toBe(false);
    const strangers = server.requests().filter((l) => l.client === "10.10.10.99");
    expect(strangers.length).toBeGreaterThan(0);
    expect(strangers.every((l) => l.status === 404 && l.instance === null)).toBe(true);
    const warnings = server.lines.filter((l) => l.level === "warn" && l.client === "10.10.10.99");
    expect(warnings).toHaveLength(1);
  });

  it.each([
    { release: "22.4 (Debian 12)", trixie: false, version: /^22\.4/ },
    { release: "25.x (Debian trixie)", trixie: true, version: /^25\./ },
  ])(
    "lets cloud-init $release render the guest's network from meta-data, warning-free",
    async (c) => {
      const r = await cloudInit(vms.web as string, {
        nic: "52:54:00:00:00:11=ens3",
        trixie: c.trixie,
      });
      expect(r.version).toMatch(c.version);
      expect(r.found).toBe(true);
      // One NIC: DHCP on it, matched by MAC (the fabric's dnsmasq answers it).
      expect(r.network_config).toEqual({
        version: 2,
        ethernets: {
          ens3: {
            dhcp4: true,
            dhcp6: false,
            match: { macaddress: "52:54:00:00:00:11" },
            "set-name": "ens3",
          },
        },
      });
      expect(r.warnings).toEqual([]);
    },
  );

  it.each([
    { release: "22.4 (Debian 12)", trixie: false, version: /^22\.4/ },
    { release: "25.x (Debian trixie)", trixie: true, version: /^25\./ },
  ])(
    "gives cloud-init $release's OpenStack datasource the same identity, and a static network it renders",
    async (c) => {
      const r = await openstackClient(vms.web as string, "52:54:00:00:00:11=ens3", c.trixie);
      expect(r.version).toMatch(c.version);
      expect(r.found).toBe(true);
      expect(r.platform).toBe("openstack");
      expect(r.instance_id).toBe(WEB_UUID);
      expect(r.local_hostname).toBe("web1");
      expect(r.public_keys?.sort()).toEqual([ADMIN, ALICE].sort());
      expect(r.userdata).toMatch(/\npassword: \$6\$/);
      // cloud-init's own ENI renderer: a static address on the guest's NIC, default route via
      // the network's gateway, no DHCP.
      expect(r.interfaces).toMatch(/^iface ens3 inet static$/m);
      expect(r.interfaces).toMatch(/^ {4}address 10\.10\.10\.11\/24$/m);
      expect(r.interfaces).toMatch(/^ {4}gateway 10\.10\.10\.1$/m);
      expect(r.interfaces).not.toMatch(/dhcp/);
      expect(r.warnings).toEqual([]);
      const os = server.requests().filter((l) => String(l.path).startsWith("/openstack"));
      expect(os.length).toBeGreaterThan(3);
      expect(os.filter((l) => l.instance !== "web1")).toEqual([]);
    },
  );

  it("never logs the password or its hash", () => {
    const all = JSON.stringify(server.lines);
    expect(all).not.toContain("correct horse");
    expect(all).not.toContain("$6$");
  });
});
