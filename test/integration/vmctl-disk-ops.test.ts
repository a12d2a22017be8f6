import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderMetadataElement } from "../../lib/metadata-xml.js";
import { run } from "../helpers/md-netns.js";
import { type CliResult, vmctl } from "../helpers/netns-fabric.js";

// vmctl snapshot and resize with real qemu-img and qemu-io on a real qcow2 overlay over a base
// image, and real virsh against libvirt's test driver (test:///FILE: the domains of that file,
// fresh on every connection, no daemon). virsh's answers prove each command it is given is
// accepted; the test driver keeps no change between connections, so what resize does to a real
// definition is checked by vmctl-resize-snapshot.test.ts under a real libvirtd.
const MiB = 2 ** 20;
let dir = "";
const paths = () => ({
  cluster: join(dir, "cluster.yaml"),
  state: join(dir, "state"),
  host: join(dir, "host"),
  disk: (vm: string) => join(dir, "host", "disks", `${vm}.qcow2`),
  base: join(dir, "base.qcow2"),
});

const cli = (...args: string[]): Promise<CliResult> =>
  vmctl(
    { clusterFile: paths().cluster, stateDir: paths().state } as Parameters<typeof vmctl>[0],
    args,
  );
async function ok(...args: string[]): Promise<string> {
  const r = await cli(...args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
const info = (vm = "web1") =>
  JSON.parse(run("qemu-img", ["info", "-U", "--output=json", paths().disk(vm)])) as {
    "virtual-size": number;
    "backing-filename"?: string;
    snapshots?: { name: string }[];
  };
/** qemu-io reads the first 64 KiB through the overlay and checks every byte. */
function holds(pattern: string): boolean {
  try {
    run("qemu-io", ["-f", "qcow2", "-c", `read -P ${pattern} 0 64k`, paths().disk("web1")]);
    return true;
  } catch {
    return false;
  }
}
const write = (pattern: string) =>
  run("qemu-io", ["-f", "qcow2", "-c", `write -P ${pattern} 0 64k`, paths().disk("web1")]);

/** A test-driver domain; runstate 5 = shut off, 1 = running (virDomainState). */
const domain = (name: string, ip: string, runstate: number) => `
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>${name}</name>
    <memory unit='MiB'>512</memory>
    <vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <test:runstate>${runstate}</test:runstate>
    <metadata>
${renderMetadataElement({ network: "net1", addresses: [ip], sshKeys: [] })}
    </metadata>
  </domain>`;

describe("vmctl snapshot and resize on a qcow2 overlay (qemu-img, virsh's test driver)", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vmctl-disk-ops-"));
    const p = paths();
    mkdirSync(join(p.host, "disks"), { recursive: true });
    run("qemu-img", ["create", "-q", "-f", "qcow2", p.base, "64M"]);
    for (const vm of ["web1", "web2"])
      run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", p.base, p.disk(vm)]);
    const node = join(dir, "node.xml");
    writeFileSync(
      node,
      `<node>${domain("web1", "10.10.10.3", 5)}${domain("web2", "10.10.10.4", 1)}\n</node>\n`,
    );
    writeFileSync(
      p.cluster,
      `hosts:\n  - {name: host1, address: 198.18.0.11, lan: eth0, target: local, libvirt: "test://${node}", state-dir: ${p.host}}\nrouter: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0}\n`,
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a snapshot keeps the overlay's data: revert brings it back, later writes are gone", async () => {
    write("0xaa");
    expect(await ok("snapshot", "create", "web1", "s1")).toBe("web1: snapshot created: s1\n");
    write("0xbb");
    expect(holds("0xbb")).toBe(true);
    const list = JSON.parse(await ok("--json", "snapshot", "list", "web1")) as { name: string }[];
    expect(list.map((s) => s.name)).toEqual(["s1"]);
    expect(await ok("snapshot", "list", "web1")).toMatch(/^NAME +ID +TAKEN\ns1 +1 +20\d\d-/);
    expect(await ok("snapshot", "revert", "web1", "s1")).toBe("web1: reverted to snapshot s1\n");
    expect(holds("0xaa")).toBe(true);
    expect(info()["backing-filename"]).toBe(paths().base);
    // The base was never written: no snapshot and no data of the VM's in it.
    expect(run("qemu-img", ["info", "--output=json", paths().base])).not.toContain('"snapshots"');
  });

  it("refuses a repeated name, an unknown snapshot and a name qemu-img would read as an id", async () => {
    for (const [argv, line] of [
      [["create", "web1", "s1"], "web1 already has a snapshot s1"],
      [["revert", "web1", "nope"], "web1 has no snapshot nope (see: vmctl snapshot list web1)"],
      [
        ["create", "web1", "1"],
        "snapshot name 1: up to 63 letters, digits and _ . -, starting with a letter",
      ],
    ] as const) {
      const r = await cli("snapshot", ...argv);
      expect([r.code, r.stderr]).toEqual([1, `vmctl: ${line}\n`]);
    }
    expect(info().snapshots?.map((s) => s.name)).toEqual(["s1"]);
  });

  it("--dry-run prints the qemu-img command and leaves the overlay as it is", async () => {
    expect(await ok("--dry-run", "snapshot", "delete", "web1", "s1")).toBe(
      `qemu-img snapshot -d s1 -- ${paths().disk("web1")}\nweb1: would delete snapshot s1\n`,
    );
    expect(info().snapshots?.map((s) => s.name)).toEqual(["s1"]);
    expect(await ok("snapshot", "delete", "web1", "s1")).toBe("web1: deleted snapshot s1\n");
    expect(info().snapshots ?? []).toEqual([]);
  });

  it("grows the disk and gives virsh commands it accepts for vCPUs and memory", async () => {
    expect(await ok("resize", "web1", "--cpus", "2", "--memory", "1G", "--disk", "128M")).toBe(
      "web1: resized: disk → 128M, cpus 1 → 2, memory 512 MiB → 1024 MiB\n",
    );
    expect(info()["virtual-size"]).toBe(128 * MiB);
    expect(holds("0xaa")).toBe(true);
    // Lowering: the current value first, then the maximum (the test driver refuses it otherwise).
    expect(await ok("resize", "web1", "--memory", "256M")).toBe(
      "web1: resized: memory 512 MiB → 256 MiB\n",
    );
  });

  it("refuses to shrink the disk before changing anything", async () => {
    const r = await cli("resize", "web1", "--cpus", "3", "--disk", "64M");
    expect([r.code, r.stderr]).toEqual([
      1,
      `vmctl: --disk 64M: smaller than web1's disk (${128 * MiB} bytes); a disk only grows\n`,
    ]);
    expect(info()["virtual-size"]).toBe(128 * MiB);
  });

  it("refuses to change a running VM's disk or definition, and lists its snapshots", async () => {
    for (const argv of [
      ["resize", "web2", "--disk", "1G"],
      ["snapshot", "create", "web2", "s1"],
    ]) {
      const r = await cli(...argv);
      expect([r.code, r.stderr], argv.join(" ")).toEqual([
        1,
        expect.stringMatching(
          /^vmctl: web2 is running: .* needs it shut off; stop it first \(vmctl stop web2\)\n$/,
        ),
      ]);
    }
    expect(info("web2")["virtual-size"]).toBe(64 * MiB);
    expect(await ok("--json", "snapshot", "list", "web2")).toBe("[]\n");
  });
});
