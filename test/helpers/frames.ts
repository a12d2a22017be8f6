import { spawn } from "node:child_process";
import { join } from "node:path";
import { inNs } from "./md-netns.js";

// An attacker's hands inside a VM namespace: frames.py builds every field itself (AF_PACKET).
const FRAMES = join(import.meta.dirname, "frames.py");
const PYTHON = "/usr/bin/python3";

const kv = (fields: Record<string, string | number>) =>
  Object.entries(fields).map(([k, v]) => `${k}=${v}`);

/** Sends frames of `kind` (udp, arp, dhcp, ipv6) out of the namespace's eth0. */
export function sendFrames(ns: string, kind: string, fields: Record<string, string | number>) {
  inNs(ns, PYTHON, [FRAMES, "send", "eth0", kind, ...kv(fields)], 60_000);
}

/**
 * Counts frames arriving on the namespace's eth0 that match `filters` (src, dst MAC; sport)
 * for `seconds`, while `during` runs.
 */
export async function framesSeen(
  ns: string,
  seconds: number,
  filters: Record<string, string | number>,
  during: () => Promise<unknown> | unknown,
): Promise<number> {
  const child = spawn("ip", [
    "netns",
    "exec",
    ns,
    PYTHON,
    FRAMES,
    "sniff",
    "eth0",
    String(seconds),
    ...kv(filters),
  ]);
  let out = "";
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => {
    err += c;
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      if (out.startsWith("ready\n")) resolve();
    });
    child.on("exit", () => reject(new Error(`sniffer ended before it was ready: ${err}`)));
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on("exit", (code) =>
      code === 0
        ? resolve(Number(out.trim().split("\n").pop()))
        : reject(new Error(`sniffer exited ${code}: ${err}`)),
    );
  });
  await ready;
  await during();
  return done;
}
