import { AppError } from "../../lib/errors.js";
import type { Target } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { birdPaths, renderHostBird, renderRouterBird } from "./bird-config.js";
import { type Cluster, type HostSpec, type RouterSpec, siteRouters } from "./cluster.js";
import { FALLBACK_METRIC, type HostDesired } from "./host-plan.js";
import type { StoreData } from "./model.js";
import type { NetworkStore } from "./network-store.js";
import type { RouterDesired } from "./router-plan.js";
import type { Tunnel } from "./tunnel-plan.js";

/** What fabric operations need: the cluster, the store, and a Runner per machine. */
export interface FabricContext {
  cluster: Cluster;
  store: NetworkStore;
  runnerFor(target: Target): Runner;
  /** Called with each command that changed a machine, prefixed with the machine's name. */
  onCommand(line: string): void;
  /** --dry-run only: shows what a file write would change (BIRD's config) instead of writing. */
  showDiff?: (text: string) => void;
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
    routerAddresses: siteRouters(cluster, host.site).map((r) => r.address),
    // With bgp the host's BIRD writes better routes to the routers over them.
    ...(cluster.routing === "bgp" ? { fallbackMetric: FALLBACK_METRIC } : {}),
    networks: data.networks,
    ports: data.ports.filter((p) => p.host === host.name),
  };
}

/** With routing: bgp the router learns VM /32s from BIRD, so vmctl writes none there. */
export function routerDesired(
  cluster: Cluster,
  data: StoreData,
  router: RouterSpec,
): RouterDesired {
  const ports = cluster.routing === "bgp" ? [] : data.ports;
  return {
    router,
    networks: data.networks,
    ports: ports.map((p) => ({ ...p, hostAddress: findHost(cluster, p.host).address })),
  };
}

export function findRouter(cluster: Cluster, name: string): RouterSpec {
  const router = cluster.routers.find((r) => r.name === name);
  if (!router)
    throw new AppError(
      "NOT_FOUND",
      `no router named ${name} in the cluster file (routers: ${cluster.routers.map((r) => r.name).join(", ")})`,
    );
  return router;
}

export function hostBird(cluster: Cluster, data: StoreData, host: HostSpec): string {
  return renderHostBird(
    {
      address: host.address,
      as: host.as,
      networks: data.networks,
      paths: birdPaths(host.stateDir),
    },
    siteRouters(cluster, host.site).map((r) => ({ name: r.name, address: r.address, as: r.as })),
  );
}

export function routerBird(
  cluster: Cluster,
  data: StoreData,
  r: RouterSpec,
  tunnels: Tunnel[],
): string {
  return renderRouterBird(
    { address: r.address, as: r.as, networks: data.networks, paths: birdPaths(r.stateDir) },
    cluster.hosts
      .filter((h) => h.site === r.site)
      .map((h) => ({ name: h.name, address: h.address, as: h.as })),
    {
      sites: tunnels.map((t) => ({
        name: t.peer.name,
        address: t.remote,
        as: t.peer.as,
        local: t.local,
      })),
    },
  );
}
