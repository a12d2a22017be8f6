import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gptDisk, ImageLab, ImageServer, sh } from "../helpers/image-lab.js";

/**
 * vmctl image pull against a local HTTP server in a namespace of the test's own (never the
 * internet), with real qemu-img, xz and tar: what lands in the cache, and what is left behind.
 */
const lab = new ImageLab();
const www = join(lab.dir, "www");
const server = new ImageServer(www, join(lab.dir, "requests.log"));
const images = join(lab.stateDir, "images");
const sum = (alg: string, f: string) => sh(`${alg}sum`, [f]).split(" ")[0] as string;
const pull = (...args: string[]) => lab.vmctl(["image", "pull", ...args], server.ns);
/** What is in the cache besides finished images: partial downloads, unpack directories. */
const leftovers = () => {
  try {
    return readdirSync(images).filter((f) => f.startsWith("."));
  } catch {
    return [];
  }
};
const record = async (name: string) =>
  JSON.parse((await lab.vmctl(["image", "list", "--json"])).stdout).find(
    (i: { name: string }) => i.name === name,
  );

beforeAll(async () => {
  mkdirSync(join(www, ".cut"), { recursive: true });
  const raw = gptDisk(www, "disk.raw");
  sh("qemu-img", ["convert", "-O", "qcow2", raw, join(www, "disk.qcow2")]);
  // Ubuntu's cloud image is a qcow2 named .img.
  sh("cp", [join(www, "disk.qcow2"), join(www, "noble.img")]);
  sh("xz", ["-k", "-T0", "-1", raw]);
  sh("tar", ["-cJf", join(www, "disk.tar.xz"), "-C", www, "disk.raw"]);
  sh("tar", ["-cJf", join(www, "two.tar.xz"), "-C", www, "disk.raw", "noble.img"]);
  sh("gzip", ["-k", join(www, "disk.qcow2")]);
  writeFileSync(join(www, "index.html"), "<html>not an image</html>\n".repeat(40));
  const secret = join(lab.dir, "secret");
  writeFileSync(secret, "secret\n", { mode: 0o600 });
  sh("qemu-img", [
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    "raw",
    "-b",
    secret,
    join(www, "backed.qcow2"),
    "1M",
  ]);
  writeFileSync(
    join(www, "SHA256SUMS"),
    [
      `${sum("sha256", join(www, "disk.qcow2"))}  other.img`,
      `${sum("sha256", join(www, "noble.img"))} *noble.img`,
      `${"0".repeat(64)}  noble.img.bak`,
    ].join("\n"),
  );
  await server.start();
}, 120_000);

afterAll(async () => {
  await server.stop();
  lab.remove();
});

describe("vmctl image pull", () => {
  it("pulls a qcow2 checked by --sha256 into the cache, 0640 in a 0750 directory", async () => {
    const hex = sum("sha256", join(www, "disk.qcow2"));
    const r = await pull("q", `${server.base}/disk.qcow2`, "--sha256", hex);
    expect(r.stderr).toMatch(/^pull q: 0% \(0\.0 MiB of [\d.]+ MiB\)\n[\s\S]*pull q: 100% /);
    expect(r.stdout).toMatch(
      /^imported q: \S+\/q\.qcow2 \(0\.1G virtual, qcow2, boot bios\+uefi\)\n$/,
    );
    expect(r.code).toBe(0);
    const st = statSync(join(images, "q.qcow2"));
    expect((st.mode & 0o777).toString(8)).toBe("640");
    expect((statSync(images).mode & 0o777).toString(8)).toBe("750");
    expect(await record("q")).toMatchObject({
      digest: `sha256:${hex}`,
      source: `${server.base}/disk.qcow2`,
      firmware: "bios+uefi",
      format: "qcow2",
    });
    sh("qemu-img", ["compare", "-q", join(www, "disk.raw"), join(images, "q.qcow2")]);
    expect(leftovers()).toEqual([]);
  });

  it("deletes the download when its sha256 does not match, and says so in one line", async () => {
    const wrong = "ab".repeat(32);
    const r = await pull("bad", `${server.base}/disk.qcow2`, "--sha256", wrong);
    const got = sum("sha256", join(www, "disk.qcow2"));
    expect(r.stderr.split("\n").filter((l) => l.startsWith("vmctl:"))).toEqual([
      `vmctl: ${server.base}/disk.qcow2: sha256 is ${got}, expected ${wrong}; the download is deleted`,
    ]);
    expect(r.code).toBe(1);
    expect(await record("bad")).toBeUndefined();
    expect(leftovers()).toEqual([]);
  });

  it("resumes a download the server cut midway with an HTTP Range request", async () => {
    writeFileSync(join(www, ".cut/disk.qcow2"), "");
    const before = server.requests().length;
    const hex = sum("sha256", join(www, "disk.qcow2"));
    const r = await pull("resumed", `${server.base}/disk.qcow2`, "--sha256", hex);
    expect(r.code, r.stderr).toBe(0);
    const seen = server.requests().slice(before);
    const half = Math.floor(statSync(join(www, "disk.qcow2")).size / 2);
    expect(seen).toEqual([
      { path: "/disk.qcow2", range: null },
      { path: "/disk.qcow2", range: `bytes=${half}-` },
    ]);
    sh("qemu-img", ["compare", "-q", join(www, "disk.raw"), join(images, "resumed.qcow2")]);
    expect(leftovers()).toEqual([]);
  });

  it("keeps the partial file when every try is cut, and the next run resumes it", async () => {
    writeFileSync(join(www, ".cut/disk.qcow2"), "5");
    const before = server.requests().length;
    const hex = sum("sha256", join(www, "disk.qcow2"));
    const size = statSync(join(www, "disk.qcow2")).size;
    const first = await pull("again", `${server.base}/disk.qcow2`, "--sha256", hex);
    expect(first.code).toBe(1);
    const errors = first.stderr.split("\n").filter((l) => l.startsWith("vmctl:"));
    expect(errors).toHaveLength(1);
    const stopped =
      /download stopped at (\d+) bytes after 5 tries \(.*\); run the same command again to resume$/.exec(
        errors[0] ?? "",
      );
    expect(stopped, errors[0]).not.toBeNull();
    expect(leftovers().sort()).toEqual([".again.part", ".again.part.json"]);
    expect(statSync(join(images, ".again.part")).size).toBe(Number(stopped?.[1]));
    const second = await pull("again", `${server.base}/disk.qcow2`, "--sha256", hex);
    expect(second.code, second.stderr).toBe(0);
    const ranges = server
      .requests()
      .slice(before)
      .map((r) => r.range);
    expect(ranges).toHaveLength(6);
    expect(ranges[0]).toBeNull();
    expect(ranges.at(-1)).toBe(`bytes=${stopped?.[1]}-`);
    expect(Number(stopped?.[1])).toBeGreaterThan(size / 2);
    sh("qemu-img", ["compare", "-q", join(www, "disk.raw"), join(images, "again.qcow2")]);
    expect(leftovers()).toEqual([]);
  }, 120_000);

  it("unpacks a .xz (checked by --sha512) and a .tar.xz holding one disk", async () => {
    const xz = await pull(
      "x",
      `${server.base}/disk.raw.xz`,
      "--sha512",
      sum("sha512", join(www, "disk.raw.xz")),
    );
    expect(xz.code, xz.stderr).toBe(0);
    const tar = await pull(
      "t",
      `${server.base}/disk.tar.xz`,
      "--sha256",
      sum("sha256", join(www, "disk.tar.xz")),
    );
    expect(tar.code, tar.stderr).toBe(0);
    for (const n of ["x", "t"]) {
      sh("qemu-img", ["compare", "-q", join(www, "disk.raw"), join(images, `${n}.qcow2`)]);
      expect(await record(n)).toMatchObject({ firmware: "bios+uefi", format: "qcow2" });
    }
    expect((await record("x")).digest).toBe(`sha512:${sum("sha512", join(www, "disk.raw.xz"))}`);
    expect(leftovers()).toEqual([]);
  });

  it("takes the digest from the line of the file's name in a SHA256SUMS file (.img is qcow2)", async () => {
    const r = await pull(
      "noble",
      `${server.base}/noble.img`,
      "--checksums",
      `${server.base}/SHA256SUMS`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await record("noble")).toMatchObject({
      digest: `sha256:${sum("sha256", join(www, "noble.img"))}`,
      format: "qcow2",
      source: `${server.base}/noble.img`,
    });
  });

  it.each([
    [["z", "{url}", "--sha256", "xyz"], "vmctl: --sha256 xyz: not 64 hex digits"],
    [
      ["z", "{url}", "--sha512", "ab".repeat(32)],
      `vmctl: --sha512 ${"ab".repeat(32)}: not 128 hex digits`,
    ],
    [
      ["z", "ftp://127.0.0.1/disk.qcow2", "--sha256", "0".repeat(64)],
      "vmctl: URL ftp://127.0.0.1/disk.qcow2: only http:// and https:// URLs are supported",
    ],
    [
      ["z", "{url}"],
      "vmctl: image pull z: nothing to verify the download with; give --sha256 HEX, --sha512 HEX or --checksums URL",
    ],
    [
      ["z"],
      "vmctl: image pull z: no URL given and no known image of that name (known: debian-12, debian-13, ubuntu-24.04, fedora-41)",
    ],
    [
      ["q", "{url}", "--sha256", "0".repeat(64)],
      "vmctl: image q exists (vmctl image delete q first)",
    ],
    [
      ["z", "{url}", "--checksums", "{base}/SHA256SUMS"],
      "vmctl: --checksums {base}/SHA256SUMS: no line for disk.qcow2",
    ],
    [
      ["z", "{base}/missing.qcow2", "--sha256", "0".repeat(64)],
      "vmctl: {base}/missing.qcow2: HTTP 404 Not Found",
    ],
  ])("refuses %j in one line before downloading: %s", async (args, message) => {
    const fill = (a: string) =>
      a.replace("{url}", `${server.base}/disk.qcow2`).replace("{base}", server.base);
    const before = lab.tree();
    const r = await pull(...args.map(fill));
    expect(r.stderr).toBe(`${fill(message)}\n`);
    expect(r.code).not.toBe(0);
    expect(lab.tree()).toEqual(before);
  });

  it.each([
    ["disk.qcow2.gz", /: is gzip-compressed; vmctl takes qcow2, raw, \.xz and \.tar\.xz images$/],
    ["index.html", /: not a disk image \(neither qcow2 nor a raw disk with a partition table\);/],
    [
      "two.tar.xz",
      /: the archive holds 2 entries other than directories \(disk\.raw, noble\.img\);/,
    ],
    [
      "backed.qcow2",
      /: has a backing file \(\S+\/secret\); vmctl takes only self-contained images/,
    ],
  ])(
    "refuses %s after checking its digest, in one line, leaving nothing",
    async (file, message) => {
      const r = await pull(
        "z",
        `${server.base}/${file}`,
        "--sha256",
        sum("sha256", join(www, file)),
      );
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("vmctl:"));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(r.code).toBe(1);
      expect(await record("z")).toBeUndefined();
      expect(leftovers()).toEqual([]);
    },
  );

  it("with --dry-run says what it would do and downloads nothing", async () => {
    const before = lab.tree();
    const seen = server.requests().length;
    const hex = sum("sha256", join(www, "disk.qcow2"));
    const r = await lab.vmctl(
      ["--dry-run", "image", "pull", "dry", `${server.base}/disk.qcow2`, "--sha256", hex],
      server.ns,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^would download \S+disk\.qcow2 to \S+\/\.dry\.part, check sha256 [0-9a-f]{64}, .*\(nothing was downloaded\)\n$/,
    );
    expect(lab.tree()).toEqual(before);
    expect(server.requests().length).toBe(seen);
  });
});
