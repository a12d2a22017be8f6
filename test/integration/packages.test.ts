import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * `npm run package` builds the npm tarball, the .deb and the .rpm; each is installed into a
 * scratch root (npm's own global install, dpkg-deb's extraction, rpm's install into --root)
 * and the installed programs are run from there.
 */
const exec = promisify(execFile);
const BUILD_CHROOT = resolve(import.meta.dirname, "../helpers/build-debian-chroot.sh");
const tmp = mkdtempSync(join(tmpdir(), "mdserver-pkg-"));
const out = join(tmp, "out");
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};
const file = (suffix: string) => {
  const f = readdirSync(out).find((n) => n.endsWith(suffix));
  if (!f) throw new Error(`npm run package made no *${suffix} in ${out}`);
  return join(out, f);
};
const run = async (cmd: string, args: string[]) =>
  (await exec(cmd, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;

beforeAll(async () => {
  await exec("npm", ["run", "package", "--silent"], {
    env: { ...process.env, PACKAGE_OUT: out },
    maxBuffer: 64 * 1024 * 1024,
  });
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Both programs start from an installed tree: vmctl's help, mdserver's config check. */
async function programsWork(bin: string) {
  expect(await run(join(bin, "vmctl"), ["--help"])).toContain("Usage: vmctl");
  expect(
    await run(join(bin, "mdserver"), ["--check", "--config", "etc/mdserver/mdserver.conf"]),
  ).toBe("etc/mdserver/mdserver.conf: ok\n");
}

describe("npm run package", () => {
  it("makes a tarball that npm install -g turns into working mdserver and vmctl, without dev dependencies", async () => {
    const prefix = join(tmp, "npm-prefix");
    await exec("npm", [
      "install",
      "-g",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      file(".tgz"),
    ]);
    await programsWork(join(prefix, "bin"));
    const installed = join(prefix, "lib/node_modules", pkg.name);
    for (const dev of Object.keys(pkg.devDependencies))
      expect(existsSync(join(installed, "node_modules", dev)), dev).toBe(false);
    // Only the built programs and the shipped files: no sources, tests or maps.
    expect(existsSync(join(installed, "test"))).toBe(false);
    expect(existsSync(join(installed, "dist/test"))).toBe(false);
    expect(existsSync(join(installed, "etc/mdserver/mdserver.conf"))).toBe(true);
  }, 180_000);

  it("makes a .deb with the programs, both units and the sample config as a conffile", async () => {
    const deb = file(".deb");
    expect(await run("dpkg-deb", ["-f", deb, "Package", "Version", "Architecture"])).toBe(
      `Package: ${pkg.name}\nVersion: ${pkg.version}\nArchitecture: all\n`,
    );
    expect(await run("dpkg-deb", ["-f", deb, "Depends"])).toMatch(/nodejs \(>= 20\.19\)/);
    const ctl = join(tmp, "deb-control");
    await exec("dpkg-deb", ["-e", deb, ctl]);
    expect(readFileSync(join(ctl, "conffiles"), "utf8")).toBe("/etc/mdserver/mdserver.conf\n");
    expect(readFileSync(join(ctl, "postinst"), "utf8")).toContain("adduser --system");
    for (const script of ["postinst", "postrm"]) await exec("sh", ["-n", join(ctl, script)]);
    const root = join(tmp, "deb-root");
    await exec("dpkg-deb", ["-x", deb, root]);
    await programsWork(join(root, "usr/bin"));
    const unit = readFileSync(join(root, "lib/systemd/system/mdserver.service"), "utf8");
    expect(unit).toContain("ExecStart=/usr/bin/mdserver --config /etc/mdserver/mdserver.conf");
    expect(unit).toContain("User=mdserver");
    expect(existsSync(join(root, "lib/systemd/system/vmctl-dhcp@.service"))).toBe(true);
    const listing = await run("dpkg-deb", ["-c", deb]);
    expect(listing).toMatch(/-rw-r----- root\/root .* \.\/etc\/mdserver\/mdserver\.conf/);
    expect(listing).not.toMatch(/node_modules\/(vitest|typescript|@biomejs)\//);
  }, 120_000);

  it("makes an .rpm that installs into a root with the config as %config(noreplace) and a system user made in %pre", async () => {
    const rpm = file(".rpm");
    expect(await run("rpm", ["-qp", "--configfiles", rpm])).toBe("/etc/mdserver/mdserver.conf\n");
    expect(await run("rpm", ["-qp", "--queryformat", "%{NAME} %{VERSION} %{ARCH}", rpm])).toBe(
      `${pkg.name} ${pkg.version} noarch`,
    );
    const scripts = await run("rpm", ["-qp", "--scripts", rpm]);
    expect(scripts).toMatch(/preinstall scriptlet[\s\S]*useradd -r -g mdserver/);
    expect(await run("rpm", ["-qpR", rpm])).toMatch(/^nodejs >= 20\.19$/m);
    // %config(noreplace) is the file flag "n" in the dump's config field.
    const dump = await run("rpm", ["-qp", "--dump", rpm]);
    const conf = dump.split("\n").find((l) => l.startsWith("/etc/mdserver/mdserver.conf "));
    expect(conf?.split(" ")).toMatchObject({ 4: "0100640", 5: "root", 6: "mdserver" });
    const root = join(tmp, "rpm-root");
    await exec("rpm", ["-i", "--root", root, "--nodeps", "--noscripts", "--nosignature", rpm]);
    await programsWork(join(root, "usr/bin"));
  }, 120_000);

  it("installs the .rpm with rpm inside its own root: %pre makes the system user, rpm -V is clean, rpm -e keeps a changed config as .rpmsave", async () => {
    // No RPM distribution's root can be built from Debian's packages; this is the nearest: a
    // Debian minbase chroot whose package manager for this package is rpm (its own database,
    // made here), so rpm runs the scriptlets with the chroot's /bin/sh, getent and useradd.
    // --nodeps: that database knows no nodejs, libvirt-client, iproute or shadow-utils.
    // --force-debian: Debian's rpm refuses to install into a root without it.
    const built = (
      await exec("bash", [BUILD_CHROOT, "rpm-root", "bookworm", "rpm"], { timeout: 900_000 })
    ).stdout;
    const cached = built.trim().split("\n").pop() ?? "";
    const root = join(tmp, "rpm-chroot");
    await exec("cp", ["-a", cached, root]);
    const inRoot = (cmd: string, args: string[]) => run("chroot", [root, cmd, ...args]);
    await inRoot("rpm", ["--initdb"]);
    await exec("cp", [file(".rpm"), join(root, "tmp/pkg.rpm")]);
    await inRoot("rpm", ["-i", "--nodeps", "--nosignature", "--force-debian", "/tmp/pkg.rpm"]);

    const user = (await inRoot("getent", ["passwd", "mdserver"])).trim().split(":");
    expect(Number(user[2]), "a system user's uid").toBeLessThan(1000);
    expect(user[5]).toBe("/var/lib/mdserver");
    const group = (await inRoot("getent", ["group", "mdserver"])).trim().split(":");
    const conf = await inRoot("stat", ["-c", "%a %U %g", "/etc/mdserver/mdserver.conf"]);
    expect(conf.trim()).toBe(`640 root ${group[2]}`);
    // Files as packaged (deps left out of the check, as of the install).
    expect(await inRoot("rpm", ["-V", "--nodeps", pkg.name])).toBe("");
    await programsWork(join(root, "usr/bin"));

    // The admin's edit survives an erase, as %config(noreplace) promises.
    const confPath = join(root, "etc/mdserver/mdserver.conf");
    const edited = `${readFileSync(confPath, "utf8")}# edited by the admin\n`;
    writeFileSync(confPath, edited);
    await inRoot("rpm", ["-e", "--nodeps", pkg.name]);
    expect(existsSync(join(root, "usr/bin/vmctl"))).toBe(false);
    expect(existsSync(join(root, `usr/lib/${pkg.name}`))).toBe(false);
    expect(readFileSync(`${confPath}.rpmsave`, "utf8")).toBe(edited);
    expect(await inRoot("rpm", ["-qa"])).toBe("");
  }, 900_000);
});
