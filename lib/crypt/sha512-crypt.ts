import { createHash, randomBytes } from "node:crypto";

/**
 * SHA-512 crypt ($6$), as glibc's crypt(3) and `openssl passwd -6` compute it
 * (Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512"). Node has no built-in for it.
 */
const ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DEFAULT_ROUNDS = 5000;

export function sha512Crypt(password: string, salt?: string, rounds = DEFAULT_ROUNDS): string {
  const s = (salt ?? randomSalt()).slice(0, 16);
  if (!/^[./0-9A-Za-z]*$/.test(s)) throw new Error("salt may only use [./0-9A-Za-z]");
  const r = Math.min(999_999_999, Math.max(1000, rounds));
  const P = Buffer.from(password, "utf8");
  const S = Buffer.from(s, "ascii");

  const B = sha512(P, S, P);
  const a = createHash("sha512").update(P).update(S);
  a.update(repeat(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();

  const DP = sha512(...Array.from({ length: P.length }, () => P));
  const Pp = repeat(DP, P.length);
  const DS = sha512(...Array.from({ length: 16 + (A[0] ?? 0) }, () => S));
  const Sp = DS.subarray(0, S.length);

  let C = A;
  for (let i = 0; i < r; i++) {
    const h = createHash("sha512");
    h.update(i & 1 ? Pp : C);
    if (i % 3) h.update(Sp);
    if (i % 7) h.update(Pp);
    h.update(i & 1 ? C : Pp);
    C = h.digest();
  }
  const prefix = rounds === DEFAULT_ROUNDS ? "$6$" : `$6$rounds=${r}$`;
  return `${prefix}${s}$${encode(C)}`;
}

export function isCryptHash(text: string): boolean {
  return /^\$(1|5|6|y|2[aby])\$/.test(text);
}

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return h.digest();
}

function repeat(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length)
    block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

function randomSalt(): string {
  return Array.from(randomBytes(16), (b) => ALPHABET[b & 63]).join("");
}

function encode(C: Buffer): string {
  let out = "";
  const put = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++, w >>= 6) out += ALPHABET[w & 63];
  };
  const at = (i: number) => C[i] ?? 0;
  // Bytes are taken in triples (i, i+21, i+42), rotated one place each step.
  for (let i = 0; i < 21; i++) {
    const t = [at(i), at(i + 21), at(i + 42)];
    const k = i % 3;
    put(t[k] ?? 0, t[(k + 1) % 3] ?? 0, t[(k + 2) % 3] ?? 0, 4);
  }
  put(0, 0, at(63), 2);
  return out;
}
