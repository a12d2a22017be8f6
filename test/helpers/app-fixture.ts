import { type Instance, instanceIdFromUuid } from "../../lib/instance.js";
import { createApp } from "../../mdserver/app.js";
import { BootRecordStore } from "../../mdserver/boot-record-store.js";
import { parseMdserverConfig } from "../../mdserver/config/mdserver-config.js";
import { createContext } from "../../mdserver/context.js";
import type { IdentitySigner } from "../../mdserver/identity/identity-store.js";
import { Inventory } from "../../mdserver/inventory/inventory.js";
import { type Logger, silentLogger } from "../../mdserver/log.js";
import { RequestMetrics } from "../../mdserver/metrics.js";
import { TokenIssuer } from "../../mdserver/tokens.js";

export const KEY_A =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa alice";
export const KEY_B = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCbbbbbbbbbbbbbbbbbbb bob";

export function instance(over: Partial<Instance> = {}): Instance {
  const uuid = over.uuid ?? "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f";
  return {
    name: "web1",
    uuid,
    instanceId: instanceIdFromUuid(uuid),
    hostname: undefined,
    network: "net1",
    subnet: "10.0.0.0/24",
    gateway: "10.0.0.1",
    addresses: ["10.0.0.5"],
    macs: ["52:54:00:00:00:05"],
    sshKeys: [{ name: "alice", key: KEY_A }],
    passwordHash: undefined,
    sshPwauth: undefined,
    userData: undefined,
    image: "debian-12",
    instanceType: undefined,
    created: "2026-01-02T03:04:05Z",
    loginUser: undefined,
    source: "file",
    ...over,
  };
}

/**
 * The real app with an in-memory inventory. Requests say which client they come from in a
 * test-only header (the composition root uses the TCP peer address instead).
 */
export function testApp(
  opts: {
    conf?: string;
    instances?: Instance[];
    files?: Record<string, string | Buffer>;
    tokens?: TokenIssuer;
    state?: BootRecordStore;
    log?: Logger;
    signer?: IdentitySigner;
    metrics?: RequestMetrics;
  } = {},
) {
  const inventory = new Inventory();
  for (const i of opts.instances ?? [instance()]) inventory.upsert(i);
  let context = createContext(
    parseMdserverConfig("test.conf", opts.conf ?? "[mdserver]\nuserdata-dir = /ud\n"),
    opts.signer,
  );
  const app = createApp({
    inventory,
    context: () => context,
    tokens: opts.tokens ?? new TokenIssuer(),
    log: opts.log ?? silentLogger,
    readOptional: async (path) => {
      const f = opts.files?.[path];
      return f === undefined ? undefined : Buffer.from(f);
    },
    state: opts.state ?? new BootRecordStore(undefined, silentLogger),
    clientAddress: (c) => c.req.header("x-test-client") ?? "10.0.0.5",
    metrics: opts.metrics ?? new RequestMetrics(),
  });
  const req = async (path: string, init: RequestInit & { from?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.from) headers.set("x-test-client", init.from);
    const res = await app.request(`http://169.254.169.254${path}`, { ...init, headers });
    return { status: res.status, body: await res.text(), headers: res.headers };
  };
  return {
    app,
    inventory,
    req,
    reload: (conf: string) => {
      context = createContext(parseMdserverConfig("test.conf", conf));
    },
  };
}
