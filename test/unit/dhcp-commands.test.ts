import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";

const STALE = "1795435026 52:54:00:c4:04:d2 10.10.10.3 vm1 01:52:54:00:c4:04:d2\n";
const LEASES = "/srv/h1/dhcp/net1.leases";

describe("vmctl create and DHCP leases", () => {
  it("does not give a new VM an address a lease still holds for another MAC", async () => {
    const t = fakeCluster({ hostFiles: { [LEASES]: STALE } });
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    const key = join(t.d, "key.pub");
    const argv = ["create", "vm2", "--net", "net1", "--image", "deb", "--ssh-key", key];
    expect(await t.vmctl(...argv, "--no-wait")).toBe(0);
    expect(t.out.at(-1)).toBe("vm2 started: 10.10.10.4 on net1, host host1");
  });

  it("refuses --ip of an address leased to another MAC, in one line naming the fix", async () => {
    const t = fakeCluster({ hostFiles: { [LEASES]: STALE } });
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    t.clear();
    const argv = ["create", "vm2", "--net", "net1", "--image", "deb", "--ip", "10.10.10.3"];
    expect(await t.vmctl(...argv, "--no-wait")).toBe(1);
    expect(t.err).toEqual([
      "vmctl: --ip 10.10.10.3: leased to 52:54:00:c4:04:d2 on host1 (a stale lease? vmctl host apply host1 drops those)",
    ]);
    expect(t.mutations()).toEqual([]);
  });
});

describe("vmctl host apply reconciles DHCP with the VMs that exist", () => {
  const live = { mac: "52:54:00:00:00:0b", ip: "10.10.10.4", name: "web2" };
  const setup = () => {
    // dnsmasq runs as pid 4242 until it is sent SIGTERM.
    let killed = false;
    const t = fakeCluster({
      domains: [
        {
          name: "web2",
          state: "running",
          xml: vmDomainXml("web2", "11111111-2222-3333-4444-55555500000b", live.ip, live.mac),
        },
      ],
      hostFiles: {
        // vm1 was undefined behind vmctl's back: its reservation and lease are still there.
        "/srv/h1/dhcp/net1.hosts": `52:54:00:c4:04:d2,10.10.10.3,vm1\n${live.mac},${live.ip},web2\n`,
        [LEASES]: `${STALE}1795435026 ${live.mac} ${live.ip} web2 *\n`,
        "/srv/h1/dhcp/net1.pid": "4242\n",
      },
      answer: (c) => {
        if (c.file === "ls") return { stdout: "net1.conf\nnet1.hosts\nnet1.leases\n" };
        if (c.file === "kill" && c.args.join(" ") === "4242") killed = true;
        if (c.file === "cat" && c.args.at(-1) === "/proc/4242/stat")
          return killed ? { exitCode: 1 } : { stdout: "4242 (dnsmasq) S 1 4242 4242 0 -1\n" };
        return undefined;
      },
    });
    return t;
  };
  const prepare = async (t: ReturnType<typeof setup>) => {
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    for (const [ip, mac] of [
      ["10.10.10.3", "52:54:00:c4:04:d2"],
      [live.ip, live.mac],
    ] as const) {
      const argv = ["port", "attach", "net1", "--host", "host1", "--ip", ip, "--dev", "vx"];
      expect(await t.vmctl(...argv, "--mac", mac)).toBe(0);
    }
    t.clear();
  };

  it("--dry-run prints what it would remove and changes nothing", async () => {
    const t = setup();
    await prepare(t);
    const before = t.stateFiles();
    expect(await t.vmctl("--dry-run", "host", "apply", "host1")).toBe(0);
    expect(t.out).toContain(
      "host1: net1: reservation vm1 52:54:00:c4:04:d2 10.10.10.3 would be removed (no such VM here)",
    );
    expect(t.out).toContain(
      "host1: net1: lease 10.10.10.3 of 52:54:00:c4:04:d2 would be dropped (stale)",
    );
    expect(t.out.some((l) => l.includes("web2") && l.includes("would be"))).toBe(false);
    expect(t.mutations()).toEqual([]);
    expect(t.stateFiles()).toEqual(before);
  });

  it("removes the reservation and lease of a domain that is gone, under the lock, dnsmasq stopped", async () => {
    const t = setup();
    await prepare(t);
    expect(await t.vmctl("host", "apply", "host1")).toBe(0);
    expect(t.out).toContain(
      "host1: net1: reservation vm1 52:54:00:c4:04:d2 10.10.10.3 removed (no such VM here)",
    );
    const dhcp = t.mutations().filter((l) => /dhcp|kill|flock|timeout|dnsmasq/.test(l));
    expect(dhcp).toEqual([
      "netns:h1: mkdir -p -- /srv/h1/dhcp",
      "netns:h1: flock -w 60 -- /srv/h1/dhcp/net1.lock cat",
      expect.stringMatching(/^netns:h1: dd status=none of=\/srv\/h1\/dhcp\/net1\.hosts\.\w+\.tmp$/),
      expect.stringMatching(/^netns:h1: mv -f -- \/srv\/h1\/dhcp\/net1\.hosts\.\w+\.tmp /),
      "netns:h1: kill 4242",
      expect.stringMatching(
        /^netns:h1: dd status=none of=\/srv\/h1\/dhcp\/net1\.leases\.\w+\.tmp$/,
      ),
      expect.stringMatching(/^netns:h1: mv -f -- \/srv\/h1\/dhcp\/net1\.leases\.\w+\.tmp /),
      // The conf was never written in this fake host, so it is written before the start.
      expect.stringMatching(/^netns:h1: dd status=none of=\/srv\/h1\/dhcp\/net1\.conf\./),
      expect.stringMatching(/^netns:h1: mv -f -- \/srv\/h1\/dhcp\/net1\.conf\./),
      "netns:h1: dnsmasq --conf-file=/srv/h1/dhcp/net1.conf",
    ]);
    const written = t
      .commands()
      .filter((c) => c.file === "dd")
      .map((c) => c.input);
    expect(written[0]).toBe(`${live.mac},${live.ip},web2\n`);
    expect(written[1]).toBe(`1795435026 ${live.mac} ${live.ip} web2 *\n`);
  });
});

describe("vmctl start after a host reboot", () => {
  it("re-plugs the port and starts the network's dnsmasq, which the reboot ended", async () => {
    const mac = "52:54:00:00:00:0b";
    const t = fakeCluster({
      domains: [
        {
          name: "web2",
          state: "shut off",
          xml: vmDomainXml("web2", "11111111-2222-3333-4444-55555500000b", "10.10.10.4", mac),
        },
      ],
      hostFiles: { "/srv/h1/dhcp/net1.hosts": `${mac},10.10.10.4,web2\n` },
      // The tap did not survive the reboot.
      answer: (c) =>
        c.file === "ip" && c.args[0] === "link" && c.args[1] === "show"
          ? { exitCode: 1 }
          : undefined,
    });
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    t.clear();
    expect(await t.vmctl("start", "web2")).toBe(0);
    // In order on host1 (each machine's commands are recorded in order).
    const m = t.mutations().filter((l) => l.startsWith("netns:h1: "));
    const at = (re: RegExp) => m.findIndex((l) => re.test(l));
    expect(at(/ip tuntap add dev vm/)).toBeGreaterThanOrEqual(0);
    expect(at(/flock -w 60 -- \/srv\/h1\/dhcp\/net1.lock cat/)).toBeGreaterThan(at(/tuntap/));
    expect(at(/dnsmasq --conf-file=\/srv\/h1\/dhcp\/net1.conf/)).toBeGreaterThan(at(/flock/));
    expect(t.mutations().filter((l) => / start -- web2$/.test(l))).toHaveLength(1);
    // The reservation was there already: the hosts file is not rewritten.
    expect(m.filter((l) => l.includes("net1.hosts"))).toEqual([]);
  });
});
