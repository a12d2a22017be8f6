import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign } from "node:crypto";
import { bits, explicit, int, nullValue, octets, oid, seq, set, utcTime, utf8 } from "./der.js";

const SHA256 = "2.16.840.1.101.3.4.2.1";
const RSA = "1.2.840.113549.1.1.1";
const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
const PKCS7_DATA = "1.2.840.113549.1.7.1";
const PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2";
const COMMON_NAME = "2.5.4.3";

const algorithm = (id: string) => seq(oid(id), nullValue());
const name = (cn: string) => seq(set(seq(oid(COMMON_NAME), utf8(cn))));

export interface SigningIdentity {
  key: KeyObject;
  /** The self-signed certificate, DER. */
  certificate: Buffer;
  issuer: Buffer;
  serial: Buffer;
}

/** A self-signed X.509 (v1) certificate for `key`, valid from now until the end of 2049. */
export function selfSignedCertificate(
  key: KeyObject,
  commonName: string,
  now = new Date(),
): Buffer {
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const subject = name(commonName);
  const tbs = seq(
    int(serial),
    algorithm(SHA256_WITH_RSA),
    subject,
    seq(utcTime(now), utcTime(new Date("2049-12-31T23:59:59Z"))),
    subject,
    spki,
  );
  return seq(tbs, algorithm(SHA256_WITH_RSA), bits(sign("sha256", tbs, key)));
}

/** Reads issuer and serial back out of our own certificate (for the SignerInfo). */
export function identityFrom(keyPem: string, certificate: Buffer): SigningIdentity {
  // Certificate = SEQ { tbs = SEQ { serial INTEGER, algorithm SEQ, issuer SEQ, ... }, ... }
  const tbs = children(children(certificate)[0] as Buffer);
  return {
    key: createPrivateKey(keyPem),
    certificate,
    serial: tbs[0] as Buffer,
    issuer: tbs[2] as Buffer,
  };
}

/**
 * A detached PKCS#7 SignedData over `content` (SHA-256, RSA), carrying the certificate, as
 * `openssl smime -verify -inform PEM -content DOC -certfile CERT -noverify` checks it (the
 * command AWS documents for its pkcs7). No signed attributes: the signature covers the content.
 */
export function pkcs7Detached(id: SigningIdentity, content: Buffer): Buffer {
  const signerInfo = seq(
    int(1),
    seq(id.issuer, id.serial),
    algorithm(SHA256),
    algorithm(RSA),
    octets(sign("sha256", content, id.key)),
  );
  const signedData = seq(
    int(1),
    set(algorithm(SHA256)),
    seq(oid(PKCS7_DATA)),
    explicit(0, id.certificate),
    set(signerInfo),
  );
  return seq(oid(PKCS7_SIGNED_DATA), explicit(0, signedData));
}

/** The complete TLVs inside one constructed TLV (enough DER reading for our own certificate). */
export function children(der: Buffer): Buffer[] {
  const { start, end } = header(der, 0);
  const out: Buffer[] = [];
  for (let at = start; at < end; ) {
    const h = header(der, at);
    out.push(der.subarray(at, h.end));
    at = h.end;
  }
  return out;
}

function header(der: Buffer, at: number): { start: number; end: number } {
  const first = der[at + 1] as number;
  if (first < 0x80) return { start: at + 2, end: at + 2 + first };
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (der[at + 2 + i] as number);
  return { start: at + 2 + n, end: at + 2 + n + len };
}
