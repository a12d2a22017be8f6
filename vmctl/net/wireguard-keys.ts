import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * WireGuard keys of the routers, made and kept by vmctl where it keeps its store
 * (`<state-dir>/wireguard/<router>.key`, mode 0600, one base64 private key): vmctl needs every
 * router's public key to configure the others. A key is X25519, as `wg genkey` makes it.
 */
export interface RouterKey {
  privateKey: string;
  publicKey: string;
}

/** PKCS#8 DER prefix of an X25519 private key; the 32 raw key bytes follow. */
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");

export function publicKeyOf(privateKey: string): string {
  const der = Buffer.concat([PKCS8_X25519, Buffer.from(privateKey, "base64")]);
  const jwk = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({
    format: "jwk",
  });
  return Buffer.from(jwk.x ?? "", "base64url").toString("base64");
}

export function keyFile(stateDir: string, router: string): string {
  return join(stateDir, "wireguard", `${router}.key`);
}

function readKey(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * The router's key, made on first use. `create: false` (--dry-run) makes none: a missing key
 * is then undefined and the plan says it would be generated.
 */
export function routerKey(
  stateDir: string,
  router: string,
  create: boolean,
): RouterKey | undefined {
  const file = keyFile(stateDir, router);
  let privateKey = readKey(file);
  if (privateKey === undefined) {
    if (!create) return undefined;
    const jwk = generateKeyPairSync("x25519").privateKey.export({ format: "jwk" });
    privateKey = Buffer.from(jwk.d ?? "", "base64url").toString("base64");
    mkdirSync(join(stateDir, "wireguard"), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${privateKey}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
  }
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}
