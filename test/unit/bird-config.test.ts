import { describe, expect, it } from "vitest";
import { birdPaths, renderHostBird, renderRouterBird } from "../../vmctl/net/bird-config.js";
import { EMPTY_STORE } from "../../vmctl/net/model.js";
import { defineNetwork } from "../../vmctl/net/network.js";

const store = structuredClone(EMPTY_STORE);
const net1 = defineNetwork(store, { name: "net1", subnet: "10.10.10.0/24" });
store.networks.push(net1);
const net2 = defineNetwork(store, { name: "net2", subnet: "10.20.20.0/24" });
const AS = 4200000000;
const host1 = {
  address: "198.18.0.11",
  as: AS,
  networks: [net1, net2],
  paths: birdPaths("/var/lib/vmctl"),
};
const routerPeer = { name: "router", address: "198.18.0.1", as: AS };

const SESSION = `  direct;
  hold time 6;
  keepalive time 2;
  connect delay time 1;
  connect retry time 5;
  error wait time 1, 30;
  graceful restart on;
  graceful restart time 30;`;

describe("BIRD config (routing: bgp)", () => {
  it("a host learns only vmctl's /32s per network table and announces them to the router", () => {
    expect(
      renderHostBird(host1, [routerPeer]),
    ).toBe(`# Written by vmctl host apply (routing: bgp); changes here are overwritten.
log "/var/lib/vmctl/bird/bird.log" 1048576 "/var/lib/vmctl/bird/bird.log.old" all;
router id 198.18.0.11;

protocol device {}

define VMCTL_VMS = [ 10.10.10.0/24{32,32}, 10.20.20.0/24{32,32} ];

# net1 10.10.10.0/24: kernel table 101
ipv4 table vmctl_101;
protocol kernel kernel_101 {
  ipv4 {
    table vmctl_101;
    import where krt_source = 77 && net ~ [ 10.10.10.0/24{32,32} ];
    export none;
  };
  kernel table 101;
  learn;
  scan time 10;
  netlink rx buffer 8388608;
}
protocol pipe pipe_101 {
  table vmctl_101;
  peer table master4;
  import none;
  export all;
}

# net2 10.20.20.0/24: kernel table 102
ipv4 table vmctl_102;
protocol kernel kernel_102 {
  ipv4 {
    table vmctl_102;
    import where krt_source = 77 && net ~ [ 10.20.20.0/24{32,32} ];
    export none;
  };
  kernel table 102;
  learn;
  scan time 10;
  netlink rx buffer 8388608;
}
protocol pipe pipe_102 {
  table vmctl_102;
  peer table master4;
  import none;
  export all;
}

protocol bgp router_198_18_0_1 {
  description "router router";
  local 198.18.0.11 as 4200000000;
  neighbor 198.18.0.1 as 4200000000;
${SESSION}
  ipv4 {
    import none;
    export where net ~ VMCTL_VMS;
    next hop self;
  };
}
`);
  });

  it("the router reflects for hosts of its AS, accepts only VM /32s with the host as next hop, installs them persistently", () => {
    const router = {
      address: "198.18.0.1",
      as: AS,
      networks: [net1],
      paths: birdPaths("/srv/vmctl"),
    };
    const hosts = [
      { name: "host1", address: "198.18.0.11", as: AS },
      { name: "host2", address: "198.18.0.12", as: 65001 },
    ];
    expect(
      renderRouterBird(router, hosts),
    ).toBe(`# Written by vmctl router apply (routing: bgp); changes here are overwritten.
log "/srv/vmctl/bird/bird.log" 1048576 "/srv/vmctl/bird/bird.log.old" all;
router id 198.18.0.1;
graceful restart wait 20;

protocol device {}

define VMCTL_VMS = [ 10.10.10.0/24{32,32} ];

protocol kernel kernel_main {
  ipv4 {
    import none;
    export where source = RTS_BGP;
  };
  persist;
  graceful restart on;
  scan time 10;
  netlink rx buffer 8388608;
}

protocol bgp host_198_18_0_11 {
  description "host host1";
  local 198.18.0.1 as 4200000000;
  neighbor 198.18.0.11 as 4200000000;
${SESSION}
  rr client;
  ipv4 {
    import where net ~ VMCTL_VMS && bgp_next_hop = 198.18.0.11;
    export none;
  };
}

protocol bgp host_198_18_0_12 {
  description "host host2";
  local 198.18.0.1 as 4200000000;
  neighbor 198.18.0.12 as 65001;
${SESSION}
  ipv4 {
    import where net ~ VMCTL_VMS && bgp_next_hop = 198.18.0.12;
    export none;
  };
}
`);
  });

  it("without networks the sessions still come up but carry nothing", () => {
    const bare = { ...host1, networks: [] };
    const hostText = renderHostBird(bare, [routerPeer]);
    expect(hostText).not.toContain("VMCTL_VMS");
    expect(hostText).not.toContain("protocol kernel");
    expect(hostText).toContain("    import none;\n    export none;\n    next hop self;\n");
    const routerText = renderRouterBird({ ...bare, address: "198.18.0.1" }, [
      { name: "host1", address: "198.18.0.11", as: AS },
    ]);
    expect(routerText).toContain("    import none;\n    export none;\n");
  });
});
