import { describe, expect, it } from "vitest";
import type { CliDeps } from "../../vmctl/cli.js";
import { downloadProgress, progressBar } from "../../vmctl/commands/progress.js";
import { expectedFromFlag, expectedFromSums, urlFileName } from "../../vmctl/vm/checksums.js";
import { checkImageInfo } from "../../vmctl/vm/image-file.js";
import { firmwareOf, parseHexDump } from "../../vmctl/vm/image-firmware.js";
import { containerOf } from "../../vmctl/vm/unpack.js";

const A = "a".repeat(64);
const MIB = 2 ** 20;
const B = "b".repeat(128);

describe("checksums files", () => {
  it("picks the line of the file's name in sha256sum, binary-mode and BSD-style lists", () => {
    const gnu = `${"c".repeat(64)}  other.qcow2\n${A}  disk.qcow2\n`;
    expect(expectedFromSums(gnu, "disk.qcow2", "S")).toEqual({ algorithm: "sha256", hex: A });
    expect(expectedFromSums(`${B} *./disk.raw\n`, "disk.raw", "S")).toEqual({
      algorithm: "sha512",
      hex: B,
    });
    const fedora = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# Fedora.qcow2: 1 bytes\nSHA256 (Fedora.qcow2) = ${A.toUpperCase()}\n`;
    expect(expectedFromSums(fedora, "Fedora.qcow2", "S")).toEqual({ algorithm: "sha256", hex: A });
  });

  it("names the checksums file and the missing name in one line", () => {
    expect(() => expectedFromSums(`${A}  disk.qcow2.bak\n`, "disk.qcow2", "http://h/SUMS")).toThrow(
      "--checksums http://h/SUMS: no line for disk.qcow2",
    );
  });

  it("checks --sha256/--sha512 hex and lower-cases it", () => {
    expect(expectedFromFlag("sha256", A.toUpperCase())).toEqual({ algorithm: "sha256", hex: A });
    expect(() => expectedFromFlag("sha512", A)).toThrow(`--sha512 ${A}: not 128 hex digits`);
    expect(urlFileName("http://h/a/noble%20x.img?x=1")).toBe("noble x.img");
  });
});

describe("image files", () => {
  it("refuses qemu-img info's backing-filename and data-file, and other formats", () => {
    const info = (extra: object) =>
      JSON.stringify({ format: "qcow2", "virtual-size": 1, ...extra });
    expect(checkImageInfo("f", info({}))).toEqual({ format: "qcow2", virtualSize: 1 });
    expect(() => checkImageInfo("f", info({ "backing-filename": "/etc/shadow" }))).toThrow(
      /^f: has a backing file \(\/etc\/shadow\)/,
    );
    expect(() =>
      checkImageInfo("f", info({ "format-specific": { data: { "data-file": "/d" } } })),
    ).toThrow(/^f: keeps its data in an external file \(\/d\)/);
    expect(() => checkImageInfo("f", info({ format: "vmdk" }))).toThrow(/^f: format vmdk is not/);
  });

  it("tells xz, tar and other containers from a disk by their first bytes", () => {
    const tar = Buffer.alloc(512);
    tar.write("ustar", 257, "latin1");
    expect(containerOf(tar)).toBe("tar");
    expect(containerOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))).toBe("xz");
    expect(containerOf(Buffer.from([0x1f, 0x8b, 8]))).toBe("gzip");
    expect(containerOf(Buffer.from("QFI\xfb", "latin1"))).toBe("disk");
  });

  it("reads the firmware from an MBR: 0xEF partition for UEFI, boot code for BIOS", () => {
    const mbr = Buffer.alloc(1024);
    mbr.writeUInt16LE(0xaa55, 510);
    expect(firmwareOf(mbr)).toBe("none");
    mbr[446 + 4] = 0xef;
    expect(firmwareOf(mbr)).toBe("uefi");
    mbr[0] = 0xeb; // a jump: GRUB's boot.img starts so
    expect(firmwareOf(mbr)).toBe("bios+uefi");
    mbr[446 + 4] = 0x83;
    expect(firmwareOf(mbr)).toBe("bios");
    expect(firmwareOf(Buffer.alloc(100))).toBe("none");
  });

  it("parses qemu-io's hex dump", () => {
    const dump =
      "00000000:  55 aa 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d  U...............\n00000010:  ff  .\nread 17/17 bytes at offset 0\n";
    expect([...parseHexDump(dump)]).toEqual([
      0x55,
      0xaa,
      ...Array.from({ length: 14 }, (_, i) => i),
      0xff,
    ]);
  });
});

describe("download progress", () => {
  const sink = (isTty: boolean) => {
    const lines: string[] = [];
    const drawn: string[] = [];
    const deps = {
      stderr: (l: string) => lines.push(l),
      isTty,
      statusLine: (t: string) => drawn.push(t),
    } as unknown as CliDeps;
    return { deps, lines, drawn };
  };

  it("draws a bar in place on a terminal and ends its line once", () => {
    const s = sink(true);
    let t = 0;
    const p = downloadProgress(s.deps, "pull x", () => t);
    p.update(0, 100 << 20);
    t = 50;
    p.update(10 << 20, 100 << 20); // under 100 ms: not redrawn
    t = 200;
    p.update(100 << 20, 100 << 20);
    p.done();
    expect(s.drawn).toEqual([
      `pull x [${" ".repeat(30)}] 0% 0.0 MiB of 100.0 MiB`,
      `pull x [${"#".repeat(30)}] 100% 100.0 MiB of 100.0 MiB`,
    ]);
    expect(s.lines).toEqual([""]);
  });

  it("writes a plain line every 10 % elsewhere", () => {
    const s = sink(false);
    let t = 0;
    const p = downloadProgress(s.deps, "pull x", () => t);
    for (let i = 0; i <= 100; i++) p.update(i * MIB, 100 * MIB);
    t = 2000;
    p.update(100 * MIB, 100 * MIB);
    p.done();
    p.summary();
    expect(s.lines).toHaveLength(12);
    expect(s.lines.at(-1)).toBe("pull x: downloaded 100.0 MiB in 2.0 s (50 MiB/s)");
    expect(s.lines[5]).toBe("pull x: 50% (50.0 MiB of 100.0 MiB)");
    expect(s.drawn).toEqual([]);
    expect(progressBar("p", 5 << 20, undefined)).toBe("p 5.0 MiB");
  });
});
