import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";
import { AppError } from "../lib/errors.js";

// biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its env type
type AnyHono = Hono<any>;

/** Listens on every address or none: a failure closes the ones already open. */
export async function listenAll(
  app: AnyHono,
  addresses: string[],
  port: number,
): Promise<Server[]> {
  const servers: Server[] = [];
  try {
    for (const address of addresses) servers.push(await listenOne(app, address, port));
    return servers;
  } catch (err) {
    await closeAll(servers);
    throw err;
  }
}

function listenOne(app: AnyHono, address: string, port: number): Promise<Server> {
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  // cloud-init's version probes have no timeout: never let a request hang forever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, address, port)));
    // A boot storm opens hundreds of connections at once: past the backlog (Node: 511) SYNs
    // are dropped and retried seconds later. The kernel caps it at net.core.somaxconn.
    server.listen({ host: address, port, backlog: 4096 }, () => resolve(server));
  });
}

function listenError(err: NodeJS.ErrnoException, address: string, port: number): AppError {
  const where = `cannot listen on ${address.includes(":") ? `[${address}]` : address}:${port}`;
  switch (err.code) {
    case "EADDRNOTAVAIL":
      return new AppError(
        "LISTEN",
        address.includes(":")
          ? // A new IPv6 address stays "tentative" (unbindable) until duplicate detection ends.
            `${where}: the address is on no interface, or still tentative (add it, e.g. ip addr add ${address}/128 dev <bridge> nodad)`
          : `${where}: the address is on no interface (add it, e.g. ip addr add ${address}/32 dev <bridge>)`,
      );
    case "EADDRINUSE":
      return new AppError("LISTEN", `${where}: another process is using it`);
    case "EACCES":
      return new AppError("LISTEN", `${where}: ports below 1024 need root or CAP_NET_BIND_SERVICE`);
    default:
      return new AppError("LISTEN", `${where}: ${err.message}`);
  }
}

export async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}
