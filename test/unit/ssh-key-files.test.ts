import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readSshKeys } from "../../vmctl/commands/flag-files.js";

const K = (c: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${c.repeat(43)}`;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const d = mkdtempSync(join(tmpdir(), "vmctl-keys-"));
  dirs.push(d);
  writeFileSync(join(d, name), text);
  return join(d, name);
}

describe("--ssh-key files", () => {
  it("names keys without a comment by their position: key0, key1, key2", () => {
    const a = file("a.pub", `${K("a")}\n${K("b")}\n`);
    const b = file("b.pub", `${K("c")} alice@laptop\n${K("d")}\n`);
    expect(readSshKeys([a, b]).map((k) => k.name)).toEqual([
      "key0",
      "key1",
      "alice@laptop",
      "key3",
    ]);
  });
});
