import type { Instance } from "../../lib/instance.js";
import { normalizeAddress } from "../../lib/net-address.js";
import type { Logger } from "../log.js";

export type SourceName = Instance["source"];

/**
 * The instances mdserver serves, indexed by source address. Sources (libvirt, the YAML file)
 * replace or update their own entries; the request path only calls lookup().
 * Addresses are indexed in the form a socket reports its peer in (an IPv6 record written
 * `FD00:0::5` matches requests from fd00::5).
 * An address claimed by two instances identifies neither: serving one VM another's
 * data would be worse than serving nothing.
 */
export class Inventory {
  private readonly entries = new Map<SourceName, Map<string, Instance>>([
    ["libvirt", new Map()],
    ["file", new Map()],
  ]);
  private readonly byAddress = new Map<string, Instance[]>();

  lookup(address: string): Instance | undefined {
    const found = this.byAddress.get(address);
    return found?.length === 1 ? found[0] : undefined;
  }

  /** Addresses that two or more instances claim (each is served to nobody). */
  warnConflicts(log: Logger): void {
    for (const address of this.conflicts()) {
      const names = (this.byAddress.get(address) ?? []).map((i) => `${i.source}:${i.name}`);
      log.log("warn", "address claimed by more than one instance; serving neither", {
        address,
        instances: names,
      });
    }
  }

  conflicts(): string[] {
    return [...this.byAddress].filter(([, list]) => list.length > 1).map(([a]) => a);
  }

  get size(): number {
    let n = 0;
    for (const m of this.entries.values()) n += m.size;
    return n;
  }

  /** The instances one source contributes, by name. */
  list(source: SourceName): Instance[] {
    return [...(this.entries.get(source) as Map<string, Instance>).values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  replaceAll(source: SourceName, instances: Instance[]): void {
    const map = this.entries.get(source) as Map<string, Instance>;
    for (const old of [...map.values()]) this.remove(source, old.name);
    for (const inst of instances) this.upsert(inst);
  }

  upsert(instance: Instance): void {
    this.remove(instance.source, instance.name);
    (this.entries.get(instance.source) as Map<string, Instance>).set(instance.name, instance);
    for (const address of new Set(instance.addresses.map(normalizeAddress))) {
      const list = this.byAddress.get(address);
      if (list) list.push(instance);
      else this.byAddress.set(address, [instance]);
    }
  }

  remove(source: SourceName, name: string): boolean {
    const map = this.entries.get(source) as Map<string, Instance>;
    const old = map.get(name);
    if (!old) return false;
    map.delete(name);
    for (const address of new Set(old.addresses.map(normalizeAddress))) {
      const rest = (this.byAddress.get(address) ?? []).filter((i) => i !== old);
      if (rest.length) this.byAddress.set(address, rest);
      else this.byAddress.delete(address);
    }
    return true;
  }
}
