import { describe, expect, it } from "vitest";
import { formatCommand } from "../../lib/exec/command.js";
import { parseCluster } from "../../vmctl/net/cluster.js";
import { NO_STATE } from "../../vmctl/net/plan-items.js";
import {
  parseWgDump,
  planTunnels,
  routerTunnels,
  tunnelDev,
  WG_ALIAS,
} from "../../vmctl/net/tunnel-plan.js";
import { publicKeyOf } from "../../vmctl/net/wireguard-keys.js";

const CLUSTER = parseCluster(
  `routing: bgp
wireguard: userspace
hosts:
  - {name: host1, address: 198.18.0.11, lan: eth0}
  - {name: host3, address: 198.18.1.13, lan: eth0, site: b}
routers:
  - {name: r1, address: 198.18.0.1, lan: eth0, uplink: up0, endpoint: 198.19.0.1, tunnel-address: 10.255.0.1}
  - {name: r2, address: 198.18.0.2, lan: eth0, uplink: up0, endpoint: 198.19.0.2, tunnel-address: 10.255.0.2}
  - {name: r3, address: 198.18.1.1, lan: eth0, uplink: up0, endpoint: 198.19.0.3, tunnel-address: 10.255.0.3, site: b}
`,
  "c.yaml",
);
const [r1, , r3] = CLUSTER.routers;
// A key pair as `wg genkey | tee k | wg pubkey` printed it.
const PRIV = "YAF2+L/u1yP4cQP9Yn1v0x8z2T8l9j6a5G1wHhB3fFc=";
const PUB = "jerpatOG6R+HnM9X+Mw/qAs0iv/c6gVgpOviRsSmmA4=";
const PEER = "1EX+DsnlX8hJ2DAWPbTeho40O+V7cTHYp3voy21MQ3I=";
// `wg show DEV dump` of wireguard-go v0.0.20220316 configured as planned (captured).
const DUMP = `${PRIV}\t${PUB}\t51822\toff\n${PEER}\t(none)\t198.19.0.3:51820\t0.0.0.0/0\t0\t0\t0\t25\n`;

describe("WireGuard tunnels between sites", () => {
  it("derives a public key exactly as wg pubkey does", () => {
    expect(publicKeyOf(PRIV)).toBe(PUB);
  });

  it("gives each router one tunnel per router of another site, ports both ends can work out", () => {
    if (!r1 || !r3) throw new Error("cluster");
    expect(routerTunnels(CLUSTER, r1)).toEqual([
      {
        dev: tunnelDev("r1", "r3"),
        peer: r3,
        local: "10.255.0.1",
        remote: "10.255.0.3",
        listenPort: 51822,
        endpoint: "198.19.0.3:51820",
      },
    ]);
    const fromR3 = routerTunnels(CLUSTER, r3);
    expect(fromR3.map((t) => [t.peer.name, t.listenPort, t.endpoint])).toEqual([
      ["r1", 51820, "198.19.0.1:51822"],
      ["r2", 51821, "198.19.0.2:51822"],
    ]);
    expect(tunnelDev("r1", "r3")).toMatch(/^vwg[0-9a-f]{8}$/);
    expect(tunnelDev("r1", "r3")).not.toBe(tunnelDev("r2", "r3"));
  });

  it("plans a fresh tunnel, the key file 0600 before the key is in it, and nothing once in place", () => {
    if (!r1) throw new Error("cluster");
    const tunnels = routerTunnels(CLUSTER, r1);
    const dev = tunnelDev("r1", "r3");
    const inputs = {
      kind: "userspace" as const,
      dir: "/var/lib/vmctl",
      key: { privateKey: PRIV, publicKey: PUB },
      peerKeys: { r3: PEER },
      dumps: {},
    };
    const fresh = planTunnels(tunnels, NO_STATE, inputs).steps.map((s) => formatCommand(s.command));
    expect(fresh).toEqual([
      `wireguard-go ${dev}`,
      "mkdir -p -m 700 -- /var/lib/vmctl/wireguard",
      `install -m 600 /dev/null /var/lib/vmctl/wireguard/${dev}.conf.tmp`,
      `dd status=none of=/var/lib/vmctl/wireguard/${dev}.conf.tmp`,
      `mv -f -- /var/lib/vmctl/wireguard/${dev}.conf.tmp /var/lib/vmctl/wireguard/${dev}.conf`,
      `wg syncconf ${dev} /var/lib/vmctl/wireguard/${dev}.conf`,
      `ip addr replace 10.255.0.1 peer 10.255.0.3/32 dev ${dev}`,
      `ip link set dev ${dev} alias ${WG_ALIAS} up`,
    ]);
    const cur = {
      ...NO_STATE,
      links: [
        { name: dev, mac: "", alias: WG_ALIAS, up: true, kind: undefined },
        { name: "vwgdeadbeef", mac: "", alias: WG_ALIAS, up: true, kind: undefined },
      ],
      addrs: [{ dev, cidr: "10.255.0.1/32", label: dev }],
    };
    const done = planTunnels(tunnels, cur, { ...inputs, dumps: { [dev]: parseWgDump(DUMP) } });
    // Only the tunnel no router wants any more goes.
    expect(done.steps.map((s) => formatCommand(s.command))).toEqual([
      "ip link del dev vwgdeadbeef",
    ]);
    // A changed peer key is a resync.
    const rekeyed = planTunnels(tunnels, cur, {
      ...inputs,
      peerKeys: { r3: PUB },
      dumps: { [dev]: parseWgDump(DUMP) },
    });
    expect(rekeyed.steps.map((s) => formatCommand(s.command))).toContain(
      `wg syncconf ${dev} /var/lib/vmctl/wireguard/${dev}.conf`,
    );
  });
});
