import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Instance } from "../../lib/instance.js";
import { instance, KEY_A, KEY_B, testApp } from "../helpers/app-fixture.js";

/**
 * Every #cloud-config mdserver can generate, made by the real app, checked by the real
 * `cloud-init schema` of two releases: the host's (Debian 12, 22.4) and Debian trixie's (25.x)
 * from a cached chroot. 24+ rejects keys 22.4 lets through (issue 13: `local-hostname`), and a
 * schema error ends the guest's boot "degraded".
 */
const BUILD_CHROOT = resolve(import.meta.dirname, "../helpers/build-cloud-init-chroot.sh");
const exec = promisify(execFile);
const RUN = `schema-${randomBytes(3).toString("hex")}`;
let chroot = "";
// Inside the chroot, so its cloud-init reads the same files the host's does.
let dir = "";
const inChroot = (path: string) => path.slice(chroot.length);

interface Variant {
  name: string;
  conf: string;
  inst: Instance;
}

const HASH =
  "$6$saltsaltsaltsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./abcdefghijklmnopqrstuvwxyz012345";

/**
 * The cross product of the generator's choices. ssh-pwauth rides with the password's source
 * (config: `ssh-pwauth = no`; per-VM: the record's yes): it changes a boolean's value only.
 */
function variants(): Variant[] {
  const out: Variant[] = [];
  for (const password of ["none", "config", "vm"] as const)
    for (const keys of ["none", "vm-and-config"] as const)
      for (const phoneHome of [true, false])
        for (const naming of ["plain", "prefix-domain", "vm-hostname"] as const) {
          const conf = [
            "[mdserver]",
            "userdata-dir = /ud",
            `phone-home = ${phoneHome ? "yes" : "no"}`,
            ...(password === "config" ? ["password = correct horse", "ssh-pwauth = no"] : []),
            ...(naming === "prefix-domain"
              ? ["hostname-prefix = vm-", "domain = lab.example"]
              : []),
            ...(keys === "none" ? [] : ["[public-keys]", `admin = ${KEY_B}`]),
            "",
          ].join("\n");
          const inst = instance({
            sshKeys: keys === "none" ? [] : [{ name: "alice", key: KEY_A }],
            passwordHash: password === "vm" ? HASH : undefined,
            sshPwauth: password === "vm" ? true : undefined,
            hostname: naming === "vm-hostname" ? "custom-name" : undefined,
          });
          out.push({ name: `pw-${password}.keys-${keys}.ph-${phoneHome}.${naming}`, conf, inst });
        }
  return out;
}

const files: { variant: string; path: string }[] = [];

/** Runs `cloud-init schema` on one file; the failure text when it is not valid. */
async function schema(root: string | undefined, path: string): Promise<string | undefined> {
  const [file, args] = root
    ? ["chroot", [root, "cloud-init", "schema", "--config-file", inChroot(path)]]
    : ["/usr/bin/cloud-init", ["schema", "--config-file", path]];
  try {
    await exec(file, args, { env: { ...process.env, LC_ALL: "C.UTF-8" }, timeout: 60_000 });
    return undefined;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return `exit ${e.code}: ${e.stdout ?? ""}${e.stderr ?? ""}`.trim();
  }
}

/** Each validator run is mostly python start-up waiting on the disk: a few at a time. */
async function inParallel<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: width }, worker));
  return out;
}

function version(root: string | undefined): string {
  const [file, args] = root
    ? ["chroot", [root, "cloud-init", "--version"]]
    : ["/usr/bin/cloud-init", ["--version"]];
  const r = spawnSync(file, args, { encoding: "utf8" });
  return `${r.stdout}${r.stderr}`.trim().split(" ").pop() ?? "";
}

beforeAll(async () => {
  const built = (await exec("bash", [BUILD_CHROOT, "trixie"], { timeout: 600_000 })).stdout;
  chroot = built.trim().split("\n").pop() ?? "";
  dir = join(chroot, "tmp", RUN);
  mkdirSync(dir, { recursive: true });
  for (const v of variants()) {
    const r = await testApp({ conf: v.conf, instances: [v.inst] }).req("/2021-03-23/user-data");
    expect(r.status, v.name).toBe(200);
    expect(r.body, v.name).toMatch(/^#cloud-config\n/);
    const path = join(dir, `${v.name}.yaml`);
    writeFileSync(path, r.body);
    files.push({ variant: v.name, path });
  }
}, 660_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each([
  { release: "Debian 12 (host package)", root: () => undefined, expected: /^22\.4/ },
  { release: "Debian trixie (chroot)", root: () => chroot, expected: /^2[5-9]\./ },
])("cloud-init schema of $release", ({ root, expected }) => {
  it("is the release it claims to be", () => {
    const v = version(root());
    console.log(`cloud-init schema validator: cloud-init ${v}`);
    expect(v).toMatch(expected);
  });

  it("accepts every cloud-config mdserver generates", async () => {
    // 3 password sources x keys or not x phone-home on/off x 3 namings.
    expect(files.length).toBe(36);
    const results = await inParallel(files, 3, (f) => schema(root(), f.path));
    const failures = files.flatMap((f, i) => (results[i] ? [`${f.variant}: ${results[i]}`] : []));
    expect(failures).toEqual([]);
  }, 180_000);

  it("rejects a cloud-config its schema does not allow (the validator can fail)", async () => {
    const path = join(dir, "bad.yaml");
    writeFileSync(path, "#cloud-config\nhostname: web1\nphone_home:\n  tries: many\n");
    expect(await schema(root(), path)).toMatch(/phone_home.tries: 'many' is not of type 'integer'/);
  });
});
