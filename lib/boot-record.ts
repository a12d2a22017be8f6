/**
 * The boot record: what mdserver has seen of one instance, in
 * `<mdserver state-dir>/instances/<uuid>.json`. mdserver writes it; vmctl reads it over its
 * Runner (the "first metadata request" and "boot finished" stages, and the host key it pins).
 */
export interface BootRecord {
  name: string;
  instanceId: string;
  /** The first metadata request ever made by this instance. */
  firstRequest?: string;
  /** cloud-init's phone_home at the end of boot. */
  phoneHome?: { time: string; hostname?: string; fqdn?: string; hostKeys: Record<string, string> };
}

export const BOOT_RECORD_DIR = "instances";

/** The record's path under mdserver's state dir. */
export function bootRecordPath(stateDir: string, uuid: string): string {
  return `${stateDir.replace(/\/+$/, "")}/${BOOT_RECORD_DIR}/${uuid}.json`;
}

/** Parses a record's text; anything that is not a record (torn write, foreign file) is undefined. */
export function parseBootRecord(text: string | undefined): BootRecord | undefined {
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as unknown;
    if (typeof r !== "object" || r === null || Array.isArray(r)) return undefined;
    return r as BootRecord;
  } catch {
    return undefined;
  }
}
