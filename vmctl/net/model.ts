/** The store's records: what vmctl wants every machine to have. */
export interface Network {
  name: string;
  /** e.g. 10.10.10.0/24 */
  subnet: string;
  /** The address VMs use as their default gateway: on the router's loopback. */
  gateway: string;
  /** The same address on every host's bridge. */
  bridgeIp: string;
  table: number;
  rulePref: number;
  bridge: string;
  mac: string;
}

/** One VM interface: a tap (libvirt) or a veth (tests) on a host's bridge. */
export interface Port {
  network: string;
  host: string;
  ip: string;
  dev: string;
  /** The VM's own MAC (not the tap's): the only source MAC port security lets through. */
  mac: string;
}

export interface StoreData {
  version: 1;
  networks: Network[];
  ports: Port[];
}

export const EMPTY_STORE: StoreData = { version: 1, networks: [], ports: [] };
