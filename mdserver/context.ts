import { isCryptHash, sha512Crypt } from "../lib/crypt/sha512-crypt.js";
import type { Instance } from "../lib/instance.js";
import type { MdserverConfig } from "./config/mdserver-config.js";
import { buildTree } from "./ec2-tree.js";
import type { IdentitySigner } from "./identity/identity-store.js";
import type { Dir } from "./tree.js";

/** What one loaded configuration serves; SIGHUP swaps in a whole new one or keeps the old. */
export interface ServeContext {
  config: MdserverConfig;
  /** [mdserver] password as a crypt hash (hashed once at load, never stored in plain). */
  defaultPasswordHash: string | undefined;
  treeFor(inst: Instance): Dir;
}

/** `signer` signs identity documents; without one (no state-dir) only `document` is served. */
export function createContext(config: MdserverConfig, signer?: IdentitySigner): ServeContext {
  const pw = config.server.password;
  // Trees depend only on the instance record and this config: an event replaces the record,
  // a reload replaces the context, so a WeakMap never serves stale data.
  const trees = new WeakMap<Instance, Dir>();
  return {
    config,
    defaultPasswordHash: pw === undefined ? undefined : isCryptHash(pw) ? pw : sha512Crypt(pw),
    treeFor(inst) {
      let t = trees.get(inst);
      if (!t) {
        t = buildTree(inst, config, signer);
        trees.set(inst, t);
      }
      return t;
    },
  };
}
