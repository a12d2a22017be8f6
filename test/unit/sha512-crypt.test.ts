import { describe, expect, it } from "vitest";
import { isCryptHash, sha512Crypt } from "../../lib/crypt/sha512-crypt.js";

// Expected values printed by `openssl passwd -6 -salt SALT PASSWORD` and python3's crypt.crypt.
const VECTORS: [string, string, string][] = [
  [
    "abcdefgh",
    "password-test",
    "$6$abcdefgh$GYIdRl5QnnxOURh7iFUxrXw6ktHPDkOzJgKkvgbDT6AUIZjhe5UCk/q4HLlUIilSiIfATWPNARpLx3EZJaTRs.",
  ],
  [
    "saltsalt",
    "x",
    "$6$saltsalt$8RWsOfwR6M6PpnoeQiEiWzNTPo1f0HjVYjDnLZhGx16aBFRkeqiHAzfXP/LgrOWMBMXqiU2pLrXsSOHNUyUm91",
  ],
  [
    "0123456789abcdef",
    "héllo-wörld-1234567890123456789012345678901234567890123456789012345678901234567890",
    "$6$0123456789abcdef$oHNLDLvmYi1YvGCbqudt6eneaSb/o892VUJMVEEjW3OQXbSM13D/1BMVZCdjJfDKUvzUxPwDnODwXKVI3N5AE.",
  ],
];

describe("sha512Crypt", () => {
  it.each(VECTORS)("matches openssl for salt %s", (salt, password, expected) => {
    expect(sha512Crypt(password, salt)).toBe(expected);
  });

  it("matches glibc with an explicit rounds count", () => {
    expect(sha512Crypt("pw", "abc", 10000)).toBe(
      "$6$rounds=10000$abc$TPidcyVdsuALEejDNhmEl6D0An8RGrk3MWNhKXnkA/1s3bobDmHLj1fwXJdVOCPyWqopaBFpgYCiA9mRVYusl0",
    );
  });

  it("uses a fresh 16-character salt when none is given", () => {
    const a = sha512Crypt("same");
    const b = sha512Crypt("same");
    expect(a).not.toBe(b);
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(isCryptHash(a)).toBe(true);
    expect(isCryptHash("plain")).toBe(false);
  });
});
