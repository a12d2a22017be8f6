import { createHash, type Hash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { writeFile } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AppError } from "../../lib/errors.js";
import { httpGet } from "./http-get.js";

export type Algorithm = "sha256" | "sha512";

export interface Expected {
  algorithm: Algorithm;
  hex: string;
}

export interface DownloadRequest {
  url: string;
  /** The partial file; `PART.json` beside it says which URL and version it holds. */
  part: string;
  expected: Expected;
  progress(received: number, total: number | undefined): void;
  /** Tries in this run before giving up (the partial file stays for the next run). */
  attempts?: number;
}

interface PartMeta {
  url: string;
  /** What `If-Range` sends: a resumed range must come from the same version of the file. */
  validator?: string;
}

/**
 * Streams URL into `part`, resuming with an HTTP Range request after a cut connection (in this
 * run, or a later one: the partial file stays), hashing as it goes. Resolves once the whole
 * file is there and its digest matches; a mismatch deletes it.
 */
export async function download(req: DownloadRequest): Promise<{ bytes: number }> {
  const metaFile = `${req.part}.json`;
  const meta = readMeta(metaFile);
  if (meta?.url !== req.url) removePart(req.part);
  const attempts = req.attempts ?? 5;
  let hashed: { hash: Hash; bytes: number } | undefined;
  let lastError = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let offset = existsSync(req.part) ? statSync(req.part).size : 0;
    const validator = readMeta(metaFile)?.validator;
    if (offset > 0 && !validator) offset = 0; // nothing proves the server's file is the same
    if (hashed?.bytes !== offset) hashed = await hashPrefix(req.part, offset, req.expected);
    const headers: Record<string, string> =
      offset > 0 && validator ? { range: `bytes=${offset}-`, "if-range": validator } : {};
    try {
      const { res } = await httpGet(req.url, headers);
      const status = res.statusCode ?? 0;
      let total: number | undefined;
      if (status === 206) {
        const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers["content-range"] ?? "");
        if (Number(range?.[1]) !== offset) throw new Error("the server sent another range");
        total = range?.[2] === "*" ? undefined : Number(range?.[2]);
      } else if (status === 200) {
        offset = 0;
        hashed = { hash: createHash(req.expected.algorithm), bytes: 0 };
        const length = res.headers["content-length"];
        total = length === undefined ? undefined : Number(length);
      } else if (status === 416 && offset > 0) {
        res.resume();
        // Asked past the end: the partial file may be whole already; else start over.
        if (res.headers["content-range"] === `bytes */${offset}`)
          return finish(req, hashed, offset);
        removePart(req.part);
        hashed = undefined;
        continue;
      } else {
        res.resume();
        throw new AppError(
          "DOWNLOAD",
          `${req.url}: HTTP ${status} ${res.statusMessage ?? ""}`.trim(),
        );
      }
      const v = res.headers.etag ?? res.headers["last-modified"];
      await writeFile(metaFile, JSON.stringify({ url: req.url, ...(v ? { validator: v } : {}) }));
      const state = hashed;
      let received = offset;
      req.progress(received, total);
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          state.hash.update(chunk);
          state.bytes += chunk.length;
          received += chunk.length;
          req.progress(received, total);
          done(null, chunk);
        },
      });
      const out = createWriteStream(req.part, { flags: status === 206 ? "a" : "w" });
      await pipeline(res, tap, out);
      if (total !== undefined && received !== total)
        throw new Error(`got ${received} of ${total} bytes`);
      return finish(req, state, received);
    } catch (err) {
      if (err instanceof AppError) throw err;
      lastError = (err as Error).message;
      hashed = undefined; // what reached the disk is re-read before the next try
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
  const have = existsSync(req.part) ? statSync(req.part).size : 0;
  throw new AppError(
    "DOWNLOAD",
    `${req.url}: download stopped at ${have} bytes after ${attempts} tries (${lastError}); run the same command again to resume`,
  );
}

function finish(req: DownloadRequest, state: { hash: Hash }, bytes: number): { bytes: number } {
  const got = state.hash.digest("hex");
  if (got !== req.expected.hex.toLowerCase()) {
    removePart(req.part);
    throw new AppError(
      "CHECKSUM",
      `${req.url}: ${req.expected.algorithm} is ${got}, expected ${req.expected.hex}; the download is deleted`,
    );
  }
  return { bytes };
}

async function hashPrefix(file: string, bytes: number, e: Expected) {
  const hash = createHash(e.algorithm);
  if (bytes > 0)
    for await (const c of createReadStream(file, { end: bytes - 1 })) hash.update(c as Buffer);
  return { hash, bytes };
}

function readMeta(file: string): PartMeta | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as PartMeta;
  } catch {
    return undefined;
  }
}

export function removePart(part: string): void {
  rmSync(part, { force: true });
  rmSync(`${part}.json`, { force: true });
}
