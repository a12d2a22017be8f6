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

  // One handler that also logs: no middleware chain on a path that runs thousands of times a second.
  app.all("*", async (c) => {
    const start = performance.now();
    const client = deps.clientAddress(c);
    const res = await handle(c, client).catch((err: Error) => {
      deps.log.log("error", "request failed", { error: err.message });
      return c.text("Internal Server Error", 500);
    });
    const name = c.get("instance")?.name;
    const ms = performance.now() - start;
    deps.metrics.observe(name ?? "", res.status, ms / 1000);
    if (deps.context().config.server["log-requests"]) {
      deps.log.log("info", "request", {
        client,
        instance: name ?? null,
        method: c.req.method,
        path: c.req.path.slice(0, MAX_PATH),
        status: res.status,
        token: header(c, "x-aws-ec2-metadata-token") !== undefined,
        ms: Math.round(ms * 1000) / 1000,
      });
    }
    return res;
  });

  async function handle(c: Context<Env>, client: string): Promise<Response> {
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
      return declaredTooLarge(header(c, "content-length"), MAX_BODY) ? tooLarge(c) : notFound(c);
    }
    c.set("instance", inst);
    if (raw.length > MAX_PATH) return c.text("Request-URI Too Long", 414);
    if (declaredTooLarge(header(c, "content-length"), MAX_BODY)) return tooLarge(c);
    deps.state.noteRequest(inst);
    const ctx = deps.context();

    // `//latest//meta-data` is `/latest/meta-data` (the AWS SDK asks for `//latest/...`).
    const segments = raw.split("/").filter((s) => s !== "");
    const [version, ...rest] = segments;

    if (version === "latest" && rest.join("/") === "api/token") {
      if (c.req.method !== "PUT") return c.text("Method Not Allowed", 405, { Allow: "PUT" });
      return putToken(c, deps, inst);
    }
    const denied = checkToken(c, deps, ctx, inst);
    if (version === "latest" && rest.join("/") === "phone-home") {
      if (c.req.method !== "POST") return c.text("Method Not Allowed", 405, { Allow: "POST" });
      // A guest's own cloud-init never posts through a proxy: a proxied POST is a web app on the
      // guest tricked into it (SSRF), which must not mark the boot finished or pin host keys.
      if (header(c, "x-forwarded-for") !== undefined) return c.text("Forbidden", 403);
      return denied ?? phoneHome(c, deps, inst);
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return c.text("Method Not Allowed", 405, { Allow: "GET, HEAD" });
    }
    if (denied) return denied;

    if (version === undefined) return c.text(VERSIONS.join("\n"));
    if (version === "openstack") return openstack(c, inst, ctx, rest);
    if (!VERSION_SET.has(version)) return notFound(c);
    const [top, ...below] = rest;
    if (top === "user-data") {
      if (below.length) return notFound(c);
      return userData(c, inst, ctx);
    }
    const tree = ctx.treeFor(inst);
    if (top === undefined) {
      const ud = await userDataFor(inst, ctx.config, ctx.defaultPasswordHash, deps.readOptional);
      return c.text(ud === undefined ? listingOf(tree) : `${listingOf(tree)}\nuser-data`);
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

/**
 * A request header. Served by @hono/node-server, read Node's already parsed headers: building
 * a Fetch Headers object for every request costs about as much as answering it.
 */
function header(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) return c.req.header(name);
  const v = incoming.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

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

function putToken(c: Context, deps: AppDeps, inst: Instance) {
  // A proxy in the path (SSRF through a guest's web app) adds X-Forwarded-For: AWS refuses those.
  if (header(c, "x-forwarded-for") !== undefined) return c.text("Forbidden", 403);
  const ttl = parseTtl(header(c, "x-aws-ec2-metadata-token-ttl-seconds"));
  if (ttl === undefined) {
    return c.text(
      "Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be a whole number from 1 to 21600",
      400,
    );
  }
  const token = deps.tokens.issue(inst.instanceId, ttl);
  return c.text(token, 200, { "X-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
}

function checkToken(c: Context, deps: AppDeps, ctx: ServeContext, inst: Instance) {
  const token = header(c, "x-aws-ec2-metadata-token");
  if (token === undefined) {
    // Guests that are not AWS-identified never PUT: tokenless GETs must work unless required.
    return ctx.config.server.imdsv2 === "required" ? c.text("Unauthorized", 401) : undefined;
  }
  return deps.tokens.check(token, inst.instanceId) === "ok"
    ? undefined
    : c.text("Unauthorized", 401);
}
