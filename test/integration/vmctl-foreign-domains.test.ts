import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// libvirt's test driver (test:///FILE) keeps the domains FILE describes inside each virsh
// process: real virsh parsing and quoting, no daemon, nothing changed anywhere.
const dir = mkdtempSync(join(tmpdir(), "vmctl-foreign-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FOREIGN = [`it's a "vm"; #1`, "two  spaces", "-x"];
const domain = (name: string, uuid: string, metadata = "") =>
  `<domain type="test"><name>${name.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll('"', "&quot;")}</name><uuid>${uuid}</uuid><memory>1024</memory><os><type>hvm</type></os>${metadata}</domain>`;
writeFileSync(
  join(dir, "node.xml"),
  `<node>${FOREIGN.map((n, i) => domain(n, `11111111-2222-3333-4444-55555555555${i}`)).join("")}${domain(
    "web1",
    "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8",
    `<metadata><vmctl:instance xmlns:vmctl="urn:vmctl:instance:1"><vmctl:network>net1</vmctl:network><vmctl:ip>10.10.10.3</vmctl:ip></vmctl:instance></metadata>`,
  )}</node>`,
);
const uri = `test://${join(dir, "node.xml")}`;
writeFileSync(
  join(dir, "cluster.yaml"),
  `hosts:\n  - {name: host1, address: 198.18.0.11, lan: eth0, target: local, libvirt: "${uri}", state-dir: ${dir}/h1}\nrouter: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0, target: local}\n`,
);

function vmctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [
    "dist/vmctl/main.js",
    "--cluster",
    join(dir, "cluster.yaml"),
    "--state-dir",
    join(dir, "state"),
    ...args,
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("foreign libvirt domains with names virsh must quote", () => {
  it("vmctl list shows vmctl's VMs beside them", async () => {
    const r = await vmctl("--json", "list");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ name: "web1", state: "running", ip: "10.10.10.3" }),
    ]);
  });

  it("vmctl show and a dry-run delete find web1", async () => {
    expect((await vmctl("show", "web1")).stdout).toContain("ip:          10.10.10.3");
    const r = await vmctl("--dry-run", "delete", "web1");
    expect(r.stderr).not.toContain("vmctl:");
    // --nvram: a UEFI VM keeps its variables in a file libvirt removes only when asked.
    expect(r.stdout).toContain(`virsh -c ${uri} -q undefine --nvram -- web1\n`);
  });
});
