import { chmod, unlink } from "node:fs/promises";
import type { Server } from "node:http";
import { connect } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { AppError } from "../lib/errors.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import type { Inventory } from "./inventory/inventory.js";
import type { LibvirtSource } from "./inventory/libvirt-source.js";
import { formatMetrics, type RequestMetrics } from "./metrics.js";
import type { StatusReport } from "./status.js";

export interface AdminDeps {
  status: () => StatusReport;
  metrics: () => string;
}

/**
 * The admin endpoint: `GET /status` (JSON, what `mdserver --status` prints) and `GET /metrics`
 * (Prometheus text). It is served only on a unix socket, never on the guest-facing listener:
 * it lists every VM and address, which no guest may learn.
 */
export function createAdminApp(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/status", (c) => c.json(deps.status()));
  app.get("/metrics", (c) =>
    c.body(deps.metrics(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }),
  );
  app.notFound((c) => c.text("Not Found (GET /status or /metrics)", 404));
  return app;
}

/** sun_path holds 108 bytes with its NUL. */
const MAX_SOCKET_PATH = 107;

/**
 * Listens on a unix socket, mode 0660 (the mdserver user, and admins in its group; root
 * always). A socket file left by a crashed mdserver is replaced; one a running mdserver
 * answers on is not.
 */
export async function listenAdmin(app: Hono, path: string): Promise<Server> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new AppError(
      "ADMIN",
      `admin socket ${path}: longer than ${MAX_SOCKET_PATH} bytes (set [mdserver] admin-socket to a shorter path)`,
    );
  }
  if (await answers(path)) {
    throw new AppError(
      "ADMIN",
      `admin socket ${path}: another mdserver is running with it (stop it, or set [mdserver] admin-socket)`,
    );
  }
  await unlink(path).catch(() => {});
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new AppError("ADMIN", `admin socket ${path}: cannot listen (${err.code ?? err.message})`),
      ),
    );
    // The umask keeps the socket private between bind and chmod.
    const old = process.umask(0o117);
    try {
      server.listen(path, () => resolve());
    } finally {
      process.umask(old);
    }
  });
  await chmod(path, 0o660);
  return server;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function closeAdmin(server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await unlink(path).catch(() => {});
}

/** What a reload did; the composition root updates it, the admin endpoint reads it. */
export interface ReloadState {
  ok: number;
  refused: number;
  last: StatusReport["reload"]["last"];
}

export interface AdminSources {
  configPath: string;
  config: () => MdserverConfig;
  inventory: Inventory;
  libvirt: LibvirtSource | undefined;
  reload: ReloadState;
  requests: RequestMetrics;
  started: Date;
}

/** The status report and the metrics text, computed from the live state when asked. */
export function adminViews(src: AdminSources): AdminDeps {
  const bySource = () => ({
    libvirt: src.inventory.list("libvirt").length,
    file: src.inventory.list("file").length,
  });
  return {
    status: () => {
      const s = src.config().server;
      const list = [...src.inventory.list("libvirt"), ...src.inventory.list("file")].map((i) => ({
        source: i.source,
        name: i.name,
        instanceId: i.instanceId,
        addresses: i.addresses,
      }));
      return {
        pid: process.pid,
        started: src.started.toISOString(),
        config: src.configPath,
        listen: { addresses: src.config().listen, port: s.port },
        instances: {
          total: list.length,
          bySource: bySource(),
          list,
          conflicts: src.inventory.conflicts(),
        },
        libvirt: src.libvirt ? { uri: s["libvirt-uri"] ?? null, ...src.libvirt.stats } : null,
        reload: { ...src.reload },
        requests: src.requests.count,
      };
    },
    metrics: () => {
      const l = src.libvirt?.stats;
      return formatMetrics({
        requests: src.requests,
        instances: bySource(),
        conflicts: src.inventory.conflicts().length,
        libvirt: {
          streamRestarts: l?.streamRestarts ?? 0,
          events: l?.events ?? 0,
          lastEventSeconds: l?.lastEvent ? Date.parse(l.lastEvent.time) / 1000 : undefined,
        },
        reloads: { ok: src.reload.ok, refused: src.reload.refused },
        startSeconds: src.started.getTime() / 1000,
      });
    },
  };
}
