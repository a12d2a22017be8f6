import { isCryptHash, sha512Crypt } from "../lib/crypt/sha512-crypt.js";
import type { Instance } from "../lib/instance.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import { buildTree } from "./ec2-tree.js";
import type { IdentitySigner } from "./identity/identity-store.js";
import { buildOpenstackTree } from "./openstack-tree.js";
import type { Dir } from "./tree.js";

/** What one loaded configuration serves; SIGHUP swaps in a whole new one or keeps the old. */
export interface ServeContext {
  config: MdserverConfig;
  /** [mdserver] password as a crypt hash (hashed once at load, never stored in plain). */
  defaultPasswordHash: string | undefined;
  treeFor(inst: Instance): Dir;
  /** /openstack/ for the instance (the OpenStack datasource's view of the same record). */
  openstackTreeFor(inst: Instance): Dir;
}

/** `signer` signs identity documents; without one (no state-dir) only `document` is served. */
export function createContext(config: MdserverConfig, signer?: IdentitySigner): ServeContext {
  const pw = config.server.password;
  // Trees depend only on the instance record and this config: an event replaces the record,
  // a reload replaces the context, so a WeakMap never serves stale data.
  const trees = new WeakMap<Instance, Dir>();
  const openstackTrees = new WeakMap<Instance, Dir>();
  return {
    config,
    defaultPasswordHash: pw === undefined ? undefined : isCryptHash(pw) ? pw : sha512Crypt(pw),
    treeFor: (inst) => cached(trees, inst, () => buildTree(inst, config, signer)),
    openstackTreeFor: (inst) =>
      cached(openstackTrees, inst, () => buildOpenstackTree(inst, config)),
  };
}

function cached(cache: WeakMap<Instance, Dir>, inst: Instance, build: () => Dir): Dir {
  let t = cache.get(inst);
  if (!t) {
    t = build();
    cache.set(inst, t);
  }
  return t;
}
