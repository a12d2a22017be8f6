import { AppError } from "../../lib/errors.js";
import type { Target } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { Cluster, HostSpec } from "./cluster.js";
import type { HostDesired } from "./host-plan.js";
import type { StoreData } from "./model.js";
import type { NetworkStore } from "./network-store.js";
import type { RouterDesired } from "./router-plan.js";

/** What fabric operations need: the cluster, the store, and a Runner per machine. */
export interface FabricContext {
  cluster: Cluster;
  store: NetworkStore;
  runnerFor(target: Target): Runner;
  /** Called with each command that changed a machine, prefixed with the machine's name. */
  onCommand(line: string): void;
}

export function findHost(cluster: Cluster, name: string): HostSpec {
  const host = cluster.hosts.find((h) => h.name === name);
  if (!host)
    throw new AppError(
      "NOT_FOUND",
      `no host named ${name} in the cluster file (hosts: ${cluster.hosts.map((h) => h.name).join(", ")})`,
    );
  return host;
}

export function hostDesired(cluster: Cluster, data: StoreData, host: HostSpec): HostDesired {
  return {
    host,
    routerAddress: cluster.router.address,
    networks: data.networks,
    ports: data.ports.filter((p) => p.host === host.name),
  };
}

export function routerDesired(cluster: Cluster, data: StoreData): RouterDesired {
  return {
    router: cluster.router,
    networks: data.networks,
    ports: data.ports.map((p) => ({ ...p, hostAddress: findHost(cluster, p.host).address })),
  };
}
