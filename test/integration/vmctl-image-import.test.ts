import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gptDisk, ImageLab, sh } from "../helpers/image-lab.js";

/** vmctl image import/list/delete with real qemu-img and real files (no libvirtd needed). */
const lab = new ImageLab();
afterAll(() => lab.remove());

const qemuGid = Number(sh("getent", ["group", "libvirt-qemu"]).split(":")[2]);
const images = join(lab.stateDir, "images");

/** A host file only root may read, with content no image would contain by chance. */
function secretFile(): { path: string; text: string } {
  const text = `secret-${randomBytes(16).toString("hex")}\n`;
  const path = join(lab.dir, `secret-${randomBytes(3).toString("hex")}`);
  writeFileSync(path, text, { mode: 0o600 });
  return { path, text };
}

/** True if any file in the lab (but the secret itself) holds `text`: a copied host file. */
function leaked(text: string): boolean {
  try {
    return sh("grep", ["-rlsF", text.trim(), lab.dir, "--exclude=secret-*"]).trim() !== "";
  } catch {
    return false; // grep exits 1 when nothing matches
  }
}

describe("vmctl image import", () => {
  it("refuses a qcow2 whose backing file is a host file, in one line, leaving nothing", async () => {
    const secret = secretFile();
    const bad = join(lab.dir, "backed.qcow2");
    sh("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", secret.path, bad, "1M"]);
    const before = lab.tree();
    const r = await lab.vmctl(["image", "import", "backed", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `vmctl: ${bad}: has a backing file (${secret.path}); vmctl takes only self-contained images (flatten it: qemu-img convert -O qcow2 IN OUT)\n`,
    );
    expect(lab.tree()).toEqual(before);
    expect(leaked(secret.text)).toBe(false);
  });

  it("refuses a qcow2 with an external data file, and a vmdk", async () => {
    const ext = join(lab.dir, "ext.qcow2");
    sh("qemu-img", [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-o",
      `data_file=${lab.dir}/ext.data`,
      ext,
      "1M",
    ]);
    const vmdk = join(lab.dir, "disk.vmdk");
    sh("qemu-img", ["create", "-q", "-f", "vmdk", vmdk, "1M"]);
    const before = lab.tree();
    const a = await lab.vmctl(["image", "import", "ext", ext]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(
      /^vmctl: \S+ext\.qcow2: keeps its data in an external file \(\S+ext\.data\);[^\n]*\n$/,
    );
    const b = await lab.vmctl(["image", "import", "vm", vmdk]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(
      /^vmctl: \S+disk\.vmdk: format vmdk is not supported; give a qcow2 or raw image[^\n]*\n$/,
    );
    expect(lab.tree()).toEqual(before);
  });

  it("with --dry-run prints the commands and changes no file", async () => {
    const raw = gptDisk(lab.dir, "dry.raw");
    const before = lab.tree();
    const r = await lab.vmctl(["--dry-run", "image", "import", "dry", raw]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`install -d -m 0750 -o root -g libvirt-qemu -- ${images}\n`);
    expect(r.stdout).toMatch(/^qemu-img convert -O qcow2 -- 'json:\{"driver":"raw"/m);
    expect(r.stdout).toContain(`chmod 0640 -- ${images}/dry.qcow2\n`);
    expect(r.stdout).toMatch(
      /would import dry: \S+dry\.qcow2 \(0\.1G virtual, qcow2, boot bios\+uefi\)\n$/,
    );
    expect(lab.tree()).toEqual(before);
  });

  it("imports a raw GPT disk as a qcow2 only root and libvirt-qemu can read", async () => {
    const raw = gptDisk(lab.dir, "gpt.raw");
    const r = await lab.vmctl(["image", "import", "gpt", raw]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const base = statSync(join(images, "gpt.qcow2"));
    expect([(base.mode & 0o7777).toString(8), base.uid, base.gid]).toEqual(["640", 0, qemuGid]);
    const dir = statSync(images);
    expect([(dir.mode & 0o7777).toString(8), dir.uid, dir.gid]).toEqual(["750", 0, qemuGid]);
    // The same guest-visible bytes as the raw file.
    sh("qemu-img", ["compare", "-q", "-f", "raw", "-F", "qcow2", raw, join(images, "gpt.qcow2")]);
    const [img] = JSON.parse((await lab.vmctl(["image", "list", "--json"])).stdout);
    const digest = sh("sha256sum", [raw]).split(" ")[0];
    expect(img).toMatchObject({
      name: "gpt",
      format: "qcow2",
      virtualSize: 64 << 20,
      firmware: "bios+uefi",
      digest: `sha256:${digest}`,
      source: raw,
      sizeBytes: base.size,
    });
    const list = (await lab.vmctl(["image", "list"])).stdout.split("\n");
    expect(list[0]).toMatch(/^NAME +SIZE +VIRTUAL +FORMAT +BOOT +DIGEST +USER +AGE +SOURCE$/);
    expect(list[1]).toMatch(
      new RegExp(
        `^gpt +\\d+\\.\\dG +0\\.1G +qcow2 +bios\\+uefi +sha256:${digest?.slice(0, 12)} +- +\\d+s +${raw}$`,
      ),
    );
  });

  it("tells a UEFI-only disk and a disk with no partition table apart", async () => {
    const uefi = gptDisk(lab.dir, "uefi.raw", "uefi");
    const bare = join(lab.dir, "bare.qcow2");
    sh("qemu-img", ["create", "-q", "-f", "qcow2", bare, "16M"]);
    expect((await lab.vmctl(["image", "import", "uefi", uefi])).code).toBe(0);
    expect((await lab.vmctl(["image", "import", "bare", bare])).code).toBe(0);
    const list = JSON.parse((await lab.vmctl(["image", "list", "--json"])).stdout);
    const boot = Object.fromEntries(
      list.map((i: { name: string; firmware: string }) => [i.name, i.firmware]),
    );
    expect(boot).toMatchObject({ uefi: "uefi", bare: "none" });
  });

  it("with --dry-run delete prints the removal and keeps files and record", async () => {
    const before = lab.tree();
    const r = await lab.vmctl(["--dry-run", "image", "delete", "gpt"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      `rm -f -- ${images}/gpt.qcow2 ${images}/gpt.json\nwould delete image gpt\n`,
    );
    expect(lab.tree()).toEqual(before);
  });

  it("deletes an image's files and record", async () => {
    expect((await lab.vmctl(["image", "delete", "gpt"])).code).toBe(0);
    expect(existsSync(join(images, "gpt.qcow2"))).toBe(false);
    expect(existsSync(join(images, "gpt.json"))).toBe(false);
    const names = JSON.parse((await lab.vmctl(["image", "list", "--json"])).stdout).map(
      (i: { name: string }) => i.name,
    );
    expect(names).not.toContain("gpt");
    expect(readFileSync(join(images, "uefi.json"), "utf8")).toContain('"uefi"');
  });
});
