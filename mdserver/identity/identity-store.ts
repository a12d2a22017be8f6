import { createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  identityFrom,
  pkcs7Detached,
  type SigningIdentity,
  selfSignedCertificate,
} from "./signed-data.js";

/** Signs identity documents: what dynamic/instance-identity/{signature,pkcs7,rsa2048} serve. */
export interface IdentitySigner {
  certificatePem: string;
  /** base64 RSA-SHA256 signature (`openssl dgst -sha256 -verify PUBKEY -signature SIG DOC`). */
  signature(document: string): string;
  /** base64 detached PKCS#7, without PEM armour (as AWS serves it). */
  pkcs7(document: string): string;
}

/** Where the per-host identity key and certificate live inside state-dir. */
export function identityPaths(stateDir: string) {
  const dir = join(stateDir, "identity");
  return { dir, key: join(dir, "key.pem"), certificate: join(dir, "cert.pem") };
}

/**
 * Loads the host's identity key and certificate from state-dir, creating them at first start:
 * the key 0600 (only mdserver reads it), the certificate 0644 (admins hand it to verifiers).
 * The key is written exclusively (`wx`) so two starts never leave different halves.
 */
export async function loadOrCreateIdentity(
  stateDir: string,
  host: string,
): Promise<IdentitySigner> {
  const p = identityPaths(stateDir);
  await mkdir(p.dir, { recursive: true, mode: 0o755 });
  let keyPem = await readIfExists(p.key);
  if (keyPem === undefined) {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    try {
      await writeFile(p.key, keyPem, { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      keyPem = (await readIfExists(p.key)) as string;
    }
  }
  let certPem = await readIfExists(p.certificate);
  if (certPem === undefined) {
    const key = createPrivateKey(keyPem);
    certPem = pem("CERTIFICATE", selfSignedCertificate(key, `mdserver instance identity ${host}`));
    await writeFile(p.certificate, certPem, { mode: 0o644 });
  }
  return signerFor(identityFrom(keyPem, fromPem(certPem)), certPem);
}

export function signerFor(id: SigningIdentity, certificatePem: string): IdentitySigner {
  return {
    certificatePem,
    signature: (doc) => wrap(sign("sha256", Buffer.from(doc), id.key).toString("base64")),
    pkcs7: (doc) => wrap(pkcs7Detached(id, Buffer.from(doc)).toString("base64")),
  };
}

const wrap = (b64: string) => (b64.match(/.{1,64}/g) ?? []).join("\n");

export const pem = (label: string, der: Buffer) =>
  `-----BEGIN ${label}-----\n${wrap(der.toString("base64"))}\n-----END ${label}-----\n`;

function fromPem(text: string): Buffer {
  return Buffer.from(text.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
