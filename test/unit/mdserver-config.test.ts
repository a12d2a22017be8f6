import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMdserverConfig } from "../../mdserver/config/mdserver-config.js";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@b";
const parse = (text: string) => parseMdserverConfig("/etc/mdserver/mdserver.conf", text);

describe("mdserver.conf", () => {
  it("parses the shipped sample to the documented defaults", () => {
    const path = resolve(import.meta.dirname, "../../etc/mdserver/mdserver.conf");
    const c = parseMdserverConfig(path, readFileSync(path, "utf8"));
    expect(c.server.listen).toEqual(["169.254.169.254"]);
    expect(c.server.port).toBe(80);
    expect(c.server.password).toBeUndefined();
    expect(c.server.imdsv2).toBe("optional");
    expect(c.userdataDir).toBe("/etc/mdserver/userdata");
    expect(c.publicKeys).toEqual([]);
  });

  it("accepts the original mdserver's keys", () => {
    const c = parse(
      `[mdserver]\nport = 8001\npassword = password-test\nhostname-prefix = vm-\nmd-base = /srv/md\n[public-keys]\ndefault = ${KEY}\n`,
    );
    expect(c.server.port).toBe(8001);
    expect(c.server.password).toBe("password-test");
    expect(c.server["hostname-prefix"]).toBe("vm-");
    expect(c.userdataDir).toBe("/srv/md/userdata");
    expect(c.publicKeys).toEqual([{ name: "default", key: KEY }]);
  });

  it("accepts the fork's listen_address and userdata_dir spellings", () => {
    const c = parse("[mdserver]\nlisten_address = 127.0.0.1, ::1\nuserdata_dir = /x\n");
    expect(c.server.listen).toEqual(["127.0.0.1", "::1"]);
    expect(c.userdataDir).toBe("/x");
  });

  it("keeps ; and # inside a value (only whole lines are comments)", () => {
    const c = parse(
      "[mdserver]\n# a comment\n  ; another\npassword = abc;def#ghi\ndomain = a #b\n",
    );
    expect(c.server.password).toBe("abc;def#ghi");
    expect(c.server.domain).toBe("a #b");
  });

  it("removes one pair of double quotes around a value (to keep blanks)", () => {
    expect(parse('[mdserver]\npassword = "  two words "\n').server.password).toBe("  two words ");
    expect(parse('[mdserver]\npassword = a"b"\n').server.password).toBe('a"b"');
  });

  it("reads true/false as booleans", () => {
    expect(parse("[mdserver]\nssh-pwauth = false\n").server["ssh-pwauth"]).toBe(false);
    expect(parse("[mdserver]\nlibvirt = no\n").server.libvirt).toBe(false);
  });

  it.each([
    [
      "[mdserver]\nprot = 80\n",
      /^\/etc\/mdserver\/mdserver.conf: \[mdserver\] prot: unknown key \(known: /,
    ],
    [
      "[mdserver]\nport = eighty\n",
      'mdserver.conf: [mdserver] port: "eighty" is not a whole number',
    ],
    ["[mdserver]\nport = 70000\n", "[mdserver] port: 70000 is outside 1..65535"],
    [
      "[mdserver]\nlisten = 169.254.169.2545\n",
      '[mdserver] listen: "169.254.169.2545" is not an IP address',
    ],
    ["[mdserver]\nimdsv2 = maybe\n", '[mdserver] imdsv2: "maybe" is not one of optional, required'],
    ["[mdserver]\nssh-pwauth = perhaps\n", '[mdserver] ssh-pwauth: "perhaps" is not yes/no'],
    ["[mdserver]\naccount-id = 12\n", '[mdserver] account-id: "12" is not 12 digits'],
    ["[mdserver]\nport[] = 1\n", 'mdserver.conf: line 2: "port[]" is not a key name'],
    [
      "port = 80\n",
      "line 1: port: every key must be inside a section ([mdserver] or [public-keys])",
    ],
    [
      "[mdserver]\nport = 80\nregion = a\nport = 81\n",
      "mdserver.conf: line 4: [mdserver] port: given twice (first on line 2); keep one",
    ],
    [
      "[mdserver]\nlisten = 127.0.0.1\nlisten_address = 127.0.0.2\n",
      "mdserver.conf: line 3: [mdserver] listen_address: same key as listen on line 2; keep one",
    ],
    [
      `[public-keys]\na = ${KEY}\na = ${KEY}\n`,
      "mdserver.conf: line 3: [public-keys] a: given twice (first on line 2); keep one",
    ],
    [
      "[mdserver]\nport = 80\n[public-keys]\n[mdserver]\nregion = x\n",
      "mdserver.conf: line 4: [mdserver]: section given twice (first on line 1); merge them",
    ],
    ["[server]\nport = 80\n", "mdserver.conf: line 1: [server]: unknown section"],
    ["[a.b]\nport = 80\n", "line 1: [a.b]: unknown section"],
    ["[mdserver]\njust words\n", 'mdserver.conf: line 2: "just words" is not "key = value"'],
    ["[public-keys]\nbob = not a key\n", "[public-keys] bob: not an OpenSSH public key"],
  ])("refuses %j with one line naming file, section and key", (text, message) => {
    let error: Error | undefined;
    try {
      parse(text);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message.split("\n")).toHaveLength(1);
    if (typeof message === "string") expect(error?.message).toContain(message);
    else expect(error?.message).toMatch(message);
  });
});
