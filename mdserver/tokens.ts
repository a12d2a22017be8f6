import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const MAX_TTL = 21600;

/**
 * IMDSv2 session tokens. Stateless: a token is its expiry plus an HMAC over the expiry and the
 * instance-id, so it is useless to any other instance and a boot storm costs no memory.
 * The key lives only in this process: after a restart old tokens get 401 and cloud-init PUTs again.
 */
export class TokenIssuer {
  constructor(
    private readonly key: Buffer = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {}

  issue(instanceId: string, ttlSeconds: number): string {
    const expiry = Buffer.alloc(8);
    expiry.writeBigUInt64BE(BigInt(Math.floor(this.now() / 1000) + ttlSeconds));
    return Buffer.concat([expiry, this.mac(expiry, instanceId)]).toString("base64url");
  }

  check(token: string, instanceId: string): "ok" | "expired" | "invalid" {
    const raw = Buffer.from(token, "base64url");
    if (raw.length !== 40 || raw.toString("base64url") !== token) return "invalid";
    const expiry = raw.subarray(0, 8);
    if (!timingSafeEqual(raw.subarray(8), this.mac(expiry, instanceId))) return "invalid";
    return Number(expiry.readBigUInt64BE()) * 1000 > this.now() ? "ok" : "expired";
  }

  private mac(expiry: Buffer, instanceId: string): Buffer {
    return createHmac("sha256", this.key).update(expiry).update(instanceId).digest();
  }
}

/** Parses X-aws-ec2-metadata-token-ttl-seconds: a whole number 1..21600, else undefined. */
export function parseTtl(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d{1,5}$/.test(header.trim())) return undefined;
  const n = Number(header.trim());
  return n >= 1 && n <= MAX_TTL ? n : undefined;
}
