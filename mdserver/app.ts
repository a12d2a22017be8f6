import type { IncomingMessage } from "node:http";
import { type Context, Hono } from "hono";
import type { Instance } from "../lib/instance.js";
import { declaredTooLarge, MAX_BODY, readBounded } from "./body.js";
import type { BootRecordStore } from "./boot-record-store.js";
import type { ServeContext } from "./context.js";
import type { Inventory } from "./inventory/inventory.js";
import type { Logger } from "./log.js";
import type { RequestMetrics } from "./metrics.js";
import { OPENSTACK_VERSIONS } from "./openstack-tree.js";
import { parseTtl, type TokenIssuer } from "./tokens.js";
import { listingOf, resolve } from "./tree.js";
import { type ReadOptional, userDataFor } from "./user-data.js";

export const VERSIONS = ["2009-04-04", "2016-09-02", "2018-09-24", "2021-03-23", "latest"];
const VERSION_SET = new Set(VERSIONS);
const MAX_PATH = 512;

export interface AppDeps {
  inventory: Inventory;
  context: () => ServeContext;
  tokens: TokenIssuer;
  log: Logger;
  readOptional: ReadOptional;
  /** The TCP peer address, already normalised (`::ffff:` removed). */
  clientAddress: (c: Context) => string;
  /** Boot progress for vmctl: first request, phone_home. */
  state: BootRecordStore;
  /** Requests by instance and status, and their latency (the admin endpoint's /metrics). */
  metrics: RequestMetrics;
}

type Env = { Variables: { instance: Instance | undefined } };

export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const warned = new Set<string>();

  // One handler that also logs: no middleware chain on a path that runs thousands of times a
  // second. It stays synchronous unless the answer needs I/O (user-data, phone_home): a
  // returned Response, not a Promise, is written by @hono/node-server without extra turns.
  app.all("*", (c) => {
    const start = performance.now();
    const client = deps.clientAddress(c);
    const h = requestHeaders(c);
    let res: Response | Promise<Response>;
    try {
      res = handle(c, client, h);
    } catch (err) {
      res = failed(c, err as Error);
    }
    if (res instanceof Promise) {
      return res.then(
        (r) => finish(c, client, h, start, r),
        (err: Error) => finish(c, client, h, start, failed(c, err)),
      );
    }
    return finish(c, client, h, start, res);
  });

  function failed(c: Context<Env>, err: Error): Response {
    deps.log.log("error", "request failed", { error: err.message });
    return c.text("Internal Server Error", 500);
  }

  function finish(
    c: Context<Env>,
    client: string,
    h: RequestHeaders,
    start: number,
    res: Response,
  ): Response {
    const name = c.get("instance")?.name;
    const ms = performance.now() - start;
    deps.metrics.observe(name ?? "", res.status, ms / 1000);
    if (deps.context().config.server["log-requests"]) {
      deps.log.request({
        client,
        instance: name,
        method: c.req.method,
        path: c.req.path.slice(0, MAX_PATH),
        status: res.status,
        token: h.token !== undefined,
        ms: Math.round(ms * 1000) / 1000,
      });
    }
    return res;
  }

  function handle(
    c: Context<Env>,
    client: string,
    h: RequestHeaders,
  ): Response | Promise<Response> {
    // Hono's path keeps `//` runs as sent (new URL() would too, at several times the cost).
    const raw = c.req.path;
    // The instance first: an unknown address gets 404 whatever it sends, and the metrics and
    // log line name the VM that sent an oversized request.
    const inst = deps.inventory.lookup(client);
    if (!inst) {
      if (!warned.has(client)) {
        if (warned.size >= 10_000) warned.clear();
        warned.add(client);
        deps.log.log("warn", "request from an address that is no known instance", { client });
      }
      return declaredTooLarge(h.contentLength, MAX_BODY) ? tooLarge(c) : notFound(c);
    }
    c.set("instance", inst);
    if (raw.length > MAX_PATH) return c.text("Request-URI Too Long", 414);
    if (declaredTooLarge(h.contentLength, MAX_BODY)) return tooLarge(c);
    deps.state.noteRequest(inst);
    const ctx = deps.context();

    // `//latest//meta-data` is `/latest/meta-data` (the AWS SDK asks for `//latest/...`).
    const segments = raw.split("/").filter((s) => s !== "");
    const [version, ...rest] = segments;
    const below = version === "latest" && rest.length === 2 ? `${rest[0]}/${rest[1]}` : "";

    if (below === "api/token") {
      if (c.req.method !== "PUT") return c.text("Method Not Allowed", 405, { Allow: "PUT" });
      return putToken(c, deps, inst, h);
    }
    const denied = checkToken(c, deps, ctx, inst, h);
    if (version === "latest" && rest.length === 1 && rest[0] === "phone-home") {
      if (c.req.method !== "POST") return c.text("Method Not Allowed", 405, { Allow: "POST" });
      // A guest's own cloud-init never posts through a proxy: a proxied POST is a web app on the
      // guest tricked into it (SSRF), which must not mark the boot finished or pin host keys.
      if (h.forwardedFor !== undefined) return c.text("Forbidden", 403);
      return denied ?? phoneHome(c, deps, inst);
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return c.text("Method Not Allowed", 405, { Allow: "GET, HEAD" });
    }
    if (denied) return denied;

    if (version === undefined) return c.text(VERSIONS.join("\n"));
    if (version === "openstack") return openstack(c, inst, ctx, rest);
    if (!VERSION_SET.has(version)) return notFound(c);
    const top = rest[0];
    if (top === "user-data") {
      if (rest.length > 1) return notFound(c);
      return userData(c, inst, ctx);
    }
    const tree = ctx.treeFor(inst);
    if (top === undefined) {
      return userDataFor(inst, ctx.config, ctx.defaultPasswordHash, deps.readOptional).then((ud) =>
        c.text(ud === undefined ? listingOf(tree) : `${listingOf(tree)}\nuser-data`),
      );
    }
    const body = resolve(tree, rest);
    return body === undefined ? notFound(c) : c.text(body);
  }

  async function userData(c: Context<Env>, inst: Instance, ctx: ServeContext): Promise<Response> {
    const ud = await userDataFor(inst, ctx.config, ctx.defaultPasswordHash, deps.readOptional);
    // Bytes with their own length: a gzip'd file must arrive exactly as written.
    return ud === undefined
      ? notFound(c)
      : c.body(new Uint8Array(ud), 200, {
          "Content-Type": "application/octet-stream",
          "Content-Length": String(ud.byteLength),
        });
  }

  /** /openstack/...: the same record as the OpenStack datasource reads it; user_data as EC2's. */
  async function openstack(
    c: Context<Env>,
    inst: Instance,
    ctx: ServeContext,
    rest: string[],
  ): Promise<Response> {
    const [v, file, ...more] = rest;
    if (v && OPENSTACK_VERSIONS.includes(v) && file === "user_data" && !more.length) {
      return userData(c, inst, ctx);
    }
    const body = resolve(ctx.openstackTreeFor(inst), rest);
    if (body === undefined) return notFound(c);
    return file?.endsWith(".json")
      ? c.body(body, 200, { "Content-Type": "application/json" })
      : c.text(body);
  }

  return app;
}

/** The request headers mdserver reads. */
interface RequestHeaders {
  token: string | undefined;
  ttl: string | undefined;
  forwardedFor: string | undefined;
  contentLength: string | undefined;
}

/**
 * One pass over Node's raw header list: building a Fetch Headers object, or Node's own
 * lower-cased header dictionary, for every request costs more than the rest of the answer.
 * Repeated headers are joined with ", " as Node's dictionary joins them (two tokens are no
 * valid token); Node's parser itself refuses conflicting Content-Lengths.
 */
function requestHeaders(c: Context): RequestHeaders {
  const h: RequestHeaders = {
    token: undefined,
    ttl: undefined,
    forwardedFor: undefined,
    contentLength: undefined,
  };
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) {
    // app.request() in unit tests: no Node request underneath.
    h.token = c.req.header("x-aws-ec2-metadata-token");
    h.ttl = c.req.header("x-aws-ec2-metadata-token-ttl-seconds");
    h.forwardedFor = c.req.header("x-forwarded-for");
    h.contentLength = c.req.header("content-length");
    return h;
  }
  const raw = incoming.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // Compare lengths first: most headers are none of these four.
    switch (name.length) {
      case 24:
        if (name.toLowerCase() === "x-aws-ec2-metadata-token") h.token = join(h.token, raw[i + 1]);
        break;
      case 36:
        if (name.toLowerCase() === "x-aws-ec2-metadata-token-ttl-seconds")
          h.ttl = join(h.ttl, raw[i + 1]);
        break;
      case 15:
        if (name.toLowerCase() === "x-forwarded-for")
          h.forwardedFor = join(h.forwardedFor, raw[i + 1]);
        break;
      case 14:
        if (name.toLowerCase() === "content-length")
          h.contentLength = join(h.contentLength, raw[i + 1]);
        break;
    }
  }
  return h;
}

const join = (a: string | undefined, b: string | undefined) => (a === undefined ? b : `${a}, ${b}`);

function notFound(c: Context) {
  return c.text("Not Found", 404);
}

/** `Connection: close`: the server then drops the connection instead of reading the rest. */
function tooLarge(c: Context) {
  return c.text(`Payload Too Large (at most ${MAX_BODY} bytes)`, 413, { Connection: "close" });
}

async function phoneHome(c: Context, deps: AppDeps, inst: Instance) {
  const body = await readBounded(c.req.raw.body, MAX_BODY);
  if (body === "too large") return tooLarge(c);
  const form = new URLSearchParams(body.toString("utf8"));
  const claimed = form.get("instance_id");
  // A guest may only report for itself.
  if (claimed !== null && claimed !== inst.instanceId) return c.text("Forbidden", 403);
  await deps.state.notePhoneHome(inst, form);
  return c.text("OK");
}

function putToken(c: Context, deps: AppDeps, inst: Instance, h: RequestHeaders) {
  // A proxy in the path (SSRF through a guest's web app) adds X-Forwarded-For: AWS refuses those.
  if (h.forwardedFor !== undefined) return c.text("Forbidden", 403);
  const ttl = parseTtl(h.ttl);
  if (ttl === undefined) {
    return c.text(
      "Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be a whole number from 1 to 21600",
      400,
    );
  }
  const token = deps.tokens.issue(inst.instanceId, ttl);
  return c.text(token, 200, { "X-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
}

function checkToken(
  c: Context,
  deps: AppDeps,
  ctx: ServeContext,
  inst: Instance,
  h: RequestHeaders,
) {
  const token = h.token;
  if (token === undefined) {
    // Guests that are not AWS-identified never PUT: tokenless GETs must work unless required.
    return ctx.config.server.imdsv2 === "required" ? c.text("Unauthorized", 401) : undefined;
  }
  return deps.tokens.check(token, inst.instanceId) === "ok"
    ? undefined
    : c.text("Unauthorized", 401);
}
