#!/usr/bin/env node
import { readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { hostname } from "node:os";
import { AppError, ConfigError, errorMessage } from "../lib/errors.js";
import { cmd, LOCAL } from "../lib/exec/command.js";
import { ExecRunner, streamLines } from "../lib/exec/runner.js";
import { normalizeAddress } from "../lib/net-address.js";
import { adminViews, closeAdmin, createAdminApp, listenAdmin, type ReloadState } from "./admin.js";
import { createApp } from "./app.js";
import { BootRecordStore } from "./boot-record-store.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import { createContext, type ServeContext } from "./context.js";
import {
  type IdentitySigner,
  identityPaths,
  loadOrCreateIdentity,
} from "./identity/identity-store.js";
import { Inventory } from "./inventory/inventory.js";
import { LibvirtSource } from "./inventory/libvirt-source.js";
import { closeAll, listenAll } from "./listen.js";
import { loadAll, loadConfig, readOptional, restartNeeded } from "./load.js";
import { batchedWriter, jsonLogger } from "./log.js";
import { RequestMetrics } from "./metrics.js";
import { fetchAdmin, formatStatus, type StatusReport } from "./status.js";
import { TokenIssuer } from "./tokens.js";

const DEFAULT_CONFIG = "/etc/mdserver/mdserver.conf";
const USAGE = `usage: mdserver [--config PATH] [--check | --print-identity-cert | --status [--json]]
  --config PATH          configuration file (default ${DEFAULT_CONFIG}; missing default = all defaults)
  --check                load and validate the configuration, then exit
  --status               ask the running mdserver (its admin socket) what it serves: instances
                         by source, libvirt's last event and stream restarts, the last reload
  --json                 with --status: the report as JSON
  --print-identity-cert  print the certificate that verifies instance identity signatures
                         (<state-dir>/identity/cert.pem, created with its key at first start)`;

async function main(argv: string[]): Promise<number> {
  let configPath = DEFAULT_CONFIG;
  let explicit = false;
  let check = false;
  let printCert = false;
  let status = false;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--config" && argv[i + 1] !== undefined) {
      configPath = argv[++i] as string;
      explicit = true;
    } else if (a?.startsWith("--config=")) {
      configPath = a.slice(9);
      explicit = true;
    } else if (a === "--check") check = true;
    else if (a === "--print-identity-cert") printCert = true;
    else if (a === "--status") status = true;
    else if (a === "--json") json = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else {
      process.stderr.write(`mdserver: unknown argument "${a}"\n${USAGE}\n`);
      return 2;
    }
  }

  if (json && !status) {
    process.stderr.write(`mdserver: --json goes with --status\n${USAGE}\n`);
    return 2;
  }
  if (status) return printStatus(configPath, explicit, json);

  const out = batchedWriter((chunk) => process.stdout.write(chunk));
  const log = jsonLogger(out.write);
  // Whatever way the process ends, the lines still waiting for their batch go out.
  process.once("exit", out.flush);
  const loaded = await loadAll(configPath, explicit);
  if (check) {
    process.stdout.write(`${configPath}: ok\n`);
    return 0;
  }
  if (printCert) {
    process.stdout.write(await readIdentityCertificate(configPath, loaded.config));
    return 0;
  }
  const signer = await identitySigner(loaded.config);
  let context: ServeContext = createContext(loaded.config, signer);
  const inventory = new Inventory();
  inventory.replaceAll("file", loaded.fileInstances);
  inventory.warnConflicts(log);

  const requests = new RequestMetrics();
  const reload: ReloadState = { ok: 0, refused: 0, last: null };
  const started = new Date();
  const app = createApp({
    inventory,
    context: () => context,
    tokens: new TokenIssuer(),
    log,
    readOptional,
    state: new BootRecordStore(context.config.server["state-dir"], log),
    clientAddress: (c) => peerAddress((c.env as { incoming: IncomingMessage }).incoming.socket),
    metrics: requests,
  });
  const { port } = context.config.server;
  const listen = context.config.listen;
  const servers = await listenAll(app, listen, port);

  let libvirt: LibvirtSource | undefined;
  if (context.config.server.libvirt) {
    const uri = context.config.server["libvirt-uri"];
    libvirt = new LibvirtSource({
      runner: new ExecRunner(LOCAL),
      streamEvents: (args, onLine) => streamLines(LOCAL, cmd("virsh", args), onLine),
      inventory,
      log,
      uri,
      reconcileMs: context.config.server["reconcile-seconds"] * 1000,
    });
    await libvirt.start();
  }
  const adminPath = context.config.adminSocket;
  const admin =
    adminPath === undefined
      ? undefined
      : await listenAdmin(
          createAdminApp(
            adminViews({
              configPath,
              config: () => context.config,
              inventory,
              libvirt,
              reload,
              requests,
              started,
            }),
          ),
          adminPath,
        ).catch(async (err) => {
          libvirt?.stop();
          await closeAll(servers);
          throw err;
        });
  log.log("info", "mdserver listening", {
    addresses: listen,
    port,
    instances: inventory.size,
    libvirt: context.config.server.libvirt,
    admin: adminPath ?? null,
  });

  const refused = (error: string) => {
    reload.refused++;
    reload.last = { time: new Date().toISOString(), result: "refused", error };
    log.log("error", "reload refused; still serving the previous configuration", { error });
  };

  process.on("SIGHUP", () => {
    loadAll(configPath, explicit).then(
      (next) => {
        const why = restartNeeded(context.config, next.config);
        if (why) return refused(why);
        context = createContext(next.config, signer);
        inventory.replaceAll("file", next.fileInstances);
        inventory.warnConflicts(log);
        reload.ok++;
        reload.last = { time: new Date().toISOString(), result: "ok" };
        log.log("info", "configuration reloaded", { instances: inventory.size });
      },
      (err) => refused(errorMessage(err)),
    );
  });

  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  libvirt?.stop();
  await closeAll(servers);
  if (admin && adminPath) await closeAdmin(admin, adminPath);
  out.flush();
  return 0;
}

/**
 * The TCP peer of a request, normalised once per connection: a keep-alive connection asks
 * many times (hono's getConnInfo also reads the port and family, for every request).
 */
const peers = new WeakMap<Socket, string>();
function peerAddress(socket: Socket): string {
  let a = peers.get(socket);
  if (a === undefined) {
    a = normalizeAddress(socket.remoteAddress ?? "");
    peers.set(socket, a);
  }
  return a;
}

/** `mdserver --status`: the running server's report, read from its admin socket. */
async function printStatus(configPath: string, explicit: boolean, json: boolean) {
  const config = await loadConfig(configPath, explicit);
  if (config.adminSocket === undefined) {
    throw new ConfigError(
      `${configPath}: [mdserver] admin-socket: off (or no state-dir), so there is no status to ask`,
    );
  }
  const body = await fetchAdmin(config.adminSocket, "/status");
  process.stdout.write(json ? `${body}\n` : formatStatus(JSON.parse(body) as StatusReport));
  return 0;
}

/**
 * Only reads: created by an admin's shell, the key would belong to root, not to the user
 * mdserver runs as.
 */
async function readIdentityCertificate(configPath: string, config: MdserverConfig) {
  const dir = config.server["state-dir"];
  if (dir === undefined) {
    throw new ConfigError(
      `${configPath}: [mdserver] state-dir: empty, so there is no identity key`,
    );
  }
  const path = identityPaths(dir).certificate;
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      `${path}: cannot read (${(err as NodeJS.ErrnoException).code}); mdserver creates it at its first start`,
    );
  }
}

/** The per-host identity key lives in state-dir (which a reload cannot change). */
async function identitySigner(config: MdserverConfig): Promise<IdentitySigner | undefined> {
  const dir = config.server["state-dir"];
  return dir === undefined ? undefined : loadOrCreateIdentity(dir, hostname());
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const message = err instanceof AppError ? err.message : errorMessage(err);
    process.stderr.write(`mdserver: ${message}\n`);
    process.exitCode = 1;
  },
);
