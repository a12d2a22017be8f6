import { describe, expect, it } from "vitest";
import { birdPaths, renderHostBird, renderRouterBird } from "../../vmctl/net/bird-config.js";
import { EMPTY_STORE } from "../../vmctl/net/model.js";
import { defineNetwork } from "../../vmctl/net/network.js";

const store = structuredClone(EMPTY_STORE);
const net1 = defineNetwork(store, { name: "net1", subnet: "10.10.10.0/24" });
store.networks.push(net1);
const AS = 4200000000;
const host1 = {
  address: "198.18.0.11",
  as: AS,
  networks: [net1],
  paths: birdPaths("/var/lib/vmctl"),
};
const routers = [
  { name: "r1", address: "198.18.0.1", as: AS },
  { name: "r2", address: "198.18.0.2", as: AS },
];

describe("BIRD config (routing: bgp)", () => {
  it("a host learns only vmctl's /32s per network table, announces them to every router of its site, and takes only the default and the subnets back, as ECMP", () => {
    expect(
      renderHostBird(host1, routers),
    ).toBe(`# Written by vmctl host apply (routing: bgp); changes here are overwritten.
log "/var/lib/vmctl/bird/bird.log" 1048576 "/var/lib/vmctl/bird/bird.log.old" all;
router id 198.18.0.11;

protocol device {}

protocol bfd {
  interface "*" {
    interval 200 ms;
    multiplier 5;
  };
}

define VMCTL_VMS = [ 10.10.10.0/24{32,32} ];
define VMCTL_NETS = [ 10.10.10.0/24 ];

# net1 10.10.10.0/24: kernel table 101
ipv4 table vmctl_101;
protocol kernel kernel_101 {
  ipv4 {
    table vmctl_101;
    import where krt_source = 77 && net ~ [ 10.10.10.0/24{32,32} ];
    export where source = RTS_BGP;
  };
  kernel table 101;
  learn;
  merge paths on;
  scan time 10;
  netlink rx buffer 8388608;
}
protocol pipe pipe_101 {
  table vmctl_101;
  peer table master4;
  import where source = RTS_BGP;
  export where source != RTS_BGP;
}

protocol bgp router_198_18_0_1 {
  description "router r1";
  local 198.18.0.11 as 4200000000;
  neighbor 198.18.0.1 as 4200000000;
  direct;
  hold time 6;
  keepalive time 2;
  connect delay time 1;
  connect retry time 5;
  error wait time 1, 30;
  graceful restart on;
  graceful restart time 30;
  bfd on;
  ipv4 {
    import where (net = 0.0.0.0/0 || net ~ VMCTL_NETS) && bgp_next_hop = 198.18.0.1;
    export where net ~ VMCTL_VMS;
    next hop self;
  };
}

protocol bgp router_198_18_0_2 {
  description "router r2";
  local 198.18.0.11 as 4200000000;
  neighbor 198.18.0.2 as 4200000000;
  direct;
  hold time 6;
  keepalive time 2;
  connect delay time 1;
  connect retry time 5;
  error wait time 1, 30;
  graceful restart on;
  graceful restart time 30;
  bfd on;
  ipv4 {
    import where (net = 0.0.0.0/0 || net ~ VMCTL_NETS) && bgp_next_hop = 198.18.0.2;
    export where net ~ VMCTL_VMS;
    next hop self;
  };
}
`);
  });

  it("a router reflects for hosts of its AS, accepts only VM /32s with the announcer as next hop, gives hosts only the default and subnets, and peers with other sites over tunnels", () => {
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
    const sites = [{ name: "r3", address: "10.255.0.3", as: AS, local: "10.255.0.1" }];
    expect(
      renderRouterBird(router, hosts, { sites }),
    ).toBe(`# Written by vmctl router apply (routing: bgp); changes here are overwritten.
log "/srv/vmctl/bird/bird.log" 1048576 "/srv/vmctl/bird/bird.log.old" all;
router id 198.18.0.1;
graceful restart wait 20;

protocol device {}

protocol bfd {
  interface "*" {
    interval 200 ms;
    multiplier 5;
  };
  neighbor 198.18.0.11;
  neighbor 198.18.0.12;
}

define VMCTL_VMS = [ 10.10.10.0/24{32,32} ];
define VMCTL_NETS = [ 10.10.10.0/24 ];

protocol static vmctl_uplink {
  ipv4;
  route 0.0.0.0/0 unreachable;
  route 10.10.10.0/24 unreachable;
}

protocol kernel kernel_main {
  ipv4 {
    import none;
    export where source = RTS_BGP && net ~ VMCTL_VMS;
  };
  persist;
  graceful restart on;
  merge paths on;
  scan time 10;
  netlink rx buffer 8388608;
}

protocol bgp host_198_18_0_11 {
  description "host host1";
  local 198.18.0.1 as 4200000000;
  neighbor 198.18.0.11 as 4200000000;
  direct;
  hold time 6;
  keepalive time 2;
  connect delay time 1;
  connect retry time 5;
  error wait time 1, 30;
  graceful restart on;
  graceful restart time 30;
  rr client;
  ipv4 {
    import where net ~ VMCTL_VMS && bgp_next_hop = 198.18.0.11;
    export where proto = "vmctl_uplink";
    next hop self;
  };
}

protocol bgp host_198_18_0_12 {
  description "host host2";
  local 198.18.0.1 as 4200000000;
  neighbor 198.18.0.12 as 65001;
  direct;
  hold time 6;
  keepalive time 2;
  connect delay time 1;
  connect retry time 5;
  error wait time 1, 30;
  graceful restart on;
  graceful restart time 30;
  ipv4 {
    import where net ~ VMCTL_VMS && bgp_next_hop = 198.18.0.12;
    export where proto = "vmctl_uplink";
    next hop self;
  };
}

protocol bgp site_10_255_0_3 {
  description "site r3";
  local 10.255.0.1 as 4200000000;
  neighbor 10.255.0.3 as 4200000000;
  direct;
  hold time 6;
  keepalive time 2;
  connect delay time 1;
  connect retry time 5;
  error wait time 1, 30;
  graceful restart on;
  graceful restart time 30;
  bfd on;
  ipv4 {
    import where net ~ VMCTL_VMS && bgp_next_hop = 10.255.0.3;
    export where net ~ VMCTL_VMS && source = RTS_BGP;
    next hop self;
  };
}
`);
  });

  it("without networks the sessions still come up but carry nothing but the default route", () => {
    const bare = { ...host1, networks: [] };
    const hostText = renderHostBird(bare, routers);
    expect(hostText).not.toContain("VMCTL_VMS");
    expect(hostText).not.toContain("protocol kernel");
    expect(hostText).toContain(
      "    import where net = 0.0.0.0/0 && bgp_next_hop = 198.18.0.1;\n    export none;\n    next hop self;\n",
    );
    const routerText = renderRouterBird({ ...bare, address: "198.18.0.1" }, [
      { name: "host1", address: "198.18.0.11", as: AS },
    ]);
    expect(routerText).toContain('    import none;\n    export where proto = "vmctl_uplink";\n');
    expect(routerText).toContain("    export none;\n  };\n  persist;");
  });
});
