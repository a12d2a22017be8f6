import { describe, expect, it } from "vitest";
import { isLocalUri } from "../../lib/virsh.js";
import { doctorText } from "../../vmctl/commands/doctor.js";
import {
  brNetfilterFinding,
  kernelFindings,
  parseKernelConfig,
  parseVersion,
  TOOLS,
  toolFinding,
} from "../../vmctl/doctor/checks.js";
import { fakeCluster } from "../helpers/fake-cluster.js";

const tool = (name: string) => {
  const t = TOOLS.find((x) => x.name === name);
  if (!t) throw new Error(name);
  return t;
};

describe("vmctl doctor's checks", () => {
  it("reads tool versions as each tool prints them (stdout or stderr)", () => {
    expect(parseVersion("ip utility, iproute2-6.1.0, libbpf 1.1.2\n")).toBe("6.1.0");
    expect(parseVersion("nftables v1.0.6 (Lester Gooch #5)\n")).toBe("1.0.6");
    expect(parseVersion("Dnsmasq version 2.90  Copyright (c) 2000-2024 Simon Kelley\n")).toBe(
      "2.90",
    );
    expect(parseVersion("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n")).toBe(
      "7.2.22",
    );
    expect(
      toolFinding(tool("bird"), { exitCode: 0, stdout: "", stderr: "BIRD version 2.0.12\n" }),
    ).toEqual({ check: "tool bird", level: "ok", message: "version 2.0.12" });
  });

  it("names a missing tool with its package, as an error or a warning by what needs it", () => {
    const gone = {
      exitCode: 1,
      stdout: "",
      stderr: 'exec of "nft" failed: No such file or directory\n',
    };
    expect(toolFinding(tool("nft"), gone)).toEqual({
      check: "tool nft",
      level: "error",
      message: "not found (vmctl's firewall tables)",
      fix: "apt install nftables",
    });
    expect(toolFinding(tool("curl"), { exitCode: 127, stdout: "", stderr: "" }).level).toBe("warn");
    // birdc has no version flag: it exits 1 with its usage, which still proves it is there.
    expect(
      toolFinding(tool("birdc"), { exitCode: 1, stdout: "", stderr: "Usage: birdc" }).level,
    ).toBe("ok");
  });

  it("judges kernel features from the config, then from what is loaded", () => {
    const config = parseKernelConfig(
      "CONFIG_BRIDGE=y\nCONFIG_NF_TABLES=m\n# CONFIG_VHOST_NET is not set\n",
    );
    const f = kernelFindings("host", { release: "6.1.0", config, loaded: new Set(["nf_tables"]) });
    const by = (m: string) => f.find((x) => x.check === `kernel ${m}`);
    expect(by("bridge")).toMatchObject({ level: "ok", message: "built in (network bridges)" });
    expect(by("nf_tables")?.message).toMatch(/^loaded/);
    expect(by("vhost_net")).toMatchObject({
      level: "warn",
      fix: "a kernel with CONFIG_VHOST_NET=y or m",
    });
    expect(by("nf_tables (bridge family)")).toMatchObject({ level: "error" });
    expect(by("wireguard")).toMatchObject({ level: "ok" });
    expect(by("ip_set")).toBeUndefined(); // a router's
    const unknown = kernelFindings("host", {
      release: "6.1.0",
      config: undefined,
      loaded: new Set(),
    });
    expect(unknown.find((x) => x.check === "kernel bridge")).toMatchObject({
      level: "warn",
      fix: "modprobe bridge",
    });
  });

  it("warns when bridged frames also pass iptables, with the sysctls that stop it", () => {
    expect(brNetfilterFinding({ "net.bridge.bridge-nf-call-iptables": "1" })).toMatchObject({
      level: "warn",
      fix: "sysctl -w net.bridge.bridge-nf-call-iptables=0",
    });
    expect(brNetfilterFinding({}).level).toBe("ok");
  });

  it("tells a local libvirt URI from a remote one", () => {
    expect(isLocalUri("qemu:///system")).toBe(true);
    expect(isLocalUri("qemu:///system?socket=/tmp/x")).toBe(true);
    expect(isLocalUri("qemu+ssh://root@198.18.0.11/system")).toBe(false);
  });

  it("prints each problem with its fix under it, and no fix for what is fine", () => {
    expect(
      doctorText([
        {
          machine: "host1",
          role: "host",
          target: "ssh:root@198.18.0.11",
          findings: [
            { check: "tool ip", level: "ok", message: "version 6.1.0" },
            {
              check: "fabric",
              level: "error",
              message: "missing: sysctl net.ipv4.ip_forward=1",
              fix: "vmctl host apply host1",
            },
          ],
        },
      ]),
    ).toEqual([
      "host host1 [ssh:root@198.18.0.11]",
      "  ok    tool ip: version 6.1.0",
      "  ERROR fabric: missing: sysctl net.ipv4.ip_forward=1",
      "        fix: vmctl host apply host1",
    ]);
  });
});

describe("vmctl doctor (fake machines)", () => {
  it("reports a host it cannot reach and goes on with the others; exit 1", async () => {
    const t = fakeCluster({
      answer: (c) =>
        c.file === "true"
          ? { exitCode: 255, stderr: 'Cannot open network namespace "h1"\n' }
          : undefined,
    });
    expect(await t.vmctl("--json", "doctor", "host1")).toBe(1);
    const report = JSON.parse(t.out.join("")) as {
      machines: { findings: unknown[] }[];
      errors: number;
    };
    expect(report.errors).toBe(1);
    expect(report.machines[0]?.findings).toEqual([
      {
        check: "reach",
        level: "error",
        message: 'host1 cannot be reached: Cannot open network namespace "h1"',
        fix: "check its target: in the cluster file",
      },
    ]);
    expect(t.err).toEqual(["vmctl: 1 error(s) and 0 warning(s), listed above"]);
  });
});
