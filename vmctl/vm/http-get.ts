import { get as httpGetRaw, type IncomingMessage } from "node:http";
import { get as httpsGetRaw } from "node:https";
import { AppError } from "../../lib/errors.js";

/** A connection that sends nothing for this long is given up (and a download resumed). */
const IDLE_MS = 30_000;
const REDIRECTS = 5;

/**
 * GET with redirects followed (vendor mirrors redirect); resolves on the final response's
 * headers with its body unread. Node's own client, not a subprocess: the body streams to disk.
 */
export async function httpGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ res: IncomingMessage; url: string }> {
  let current = url;
  for (let hop = 0; hop <= REDIRECTS; hop++) {
    const res = await once(current, headers);
    const location = res.headers.location;
    if (res.statusCode && [301, 302, 303, 307, 308].includes(res.statusCode) && location) {
      res.resume();
      current = new URL(location, current).toString();
      checkUrl("redirect", current);
      continue;
    }
    return { res, url: current };
  }
  throw new AppError("DOWNLOAD", `${url}: more than ${REDIRECTS} redirects`);
}

function once(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  const get = url.startsWith("https:") ? httpsGetRaw : httpGetRaw;
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: { "user-agent": "vmctl", ...headers } }, resolve);
    req.setTimeout(IDLE_MS, () => req.destroy(new Error(`no data for ${IDLE_MS / 1000} s`)));
    req.on("error", reject);
  });
}

/** Only http(s) URLs: a `file:` or `ftp:` one is refused in one line. */
export function checkUrl(what: string, url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError("INVALID", `${what} ${url}: not a URL (give http://... or https://...)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new AppError("INVALID", `${what} ${url}: only http:// and https:// URLs are supported`);
  return u;
}

/** A small text file (a checksums list), at most `max` bytes. */
export async function fetchText(url: string, max = 1 << 20): Promise<string> {
  const { res } = await httpGet(url).catch((err: Error) => {
    throw new AppError("DOWNLOAD", `${url}: ${err.message}`);
  });
  if (res.statusCode !== 200) {
    res.resume();
    throw new AppError("DOWNLOAD", `${url}: HTTP ${res.statusCode} ${res.statusMessage ?? ""}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.destroy();
      throw new AppError("DOWNLOAD", `${url}: larger than ${max} bytes; not a checksums file`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
