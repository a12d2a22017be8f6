import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Finding } from "../../vmctl/doctor/checks.js";
import type { MachineReport } from "../../vmctl/doctor/probe.js";
import { inNs } from "../helpers/md-netns.js";
import { MdserverProcess } from "../helpers/mdserver-process.js";
import { FabricLab, vmctl } from "../helpers/netns-fabric.js";
import { waitUntil } from "../helpers/wait.js";

// vmctl doctor against a real fabric in namespaces (routing: bgp, real BIRD, a real mdserver on
// each host), first healthy, then broken on purpose: a sysctl off, a host's BIRD killed, one
// mdserver stopped. libvirt is libvirt's test driver (test:///default): doctor only asks it
// for its version, through vmctl's own virsh, as every VM command reaches a host.
const lab = new FabricLab();
const servers: Partial<Record<"host1" | "host2", MdserverProcess>> = {};

interface Report {
  machines: MachineReport[];
  errors: number;
  warnings: number;
}

async function doctor(...args: string[]): Promise<{ code: number; report: Report }> {
  const r = await vmctl(lab, ["--json", "doctor", ...args]);
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}

const of = (report: Report, machine: string, level: Finding["level"]) =>
  report.machines
    .find((m) => m.machine === machine)
    ?.findings.filter((f) => f.level === level)
    .map((f) => `${f.check}: ${f.message}${f.fix ? ` => ${f.fix}` : ""}`) ?? [];

async function startMdserver(host: "host1" | "host2"): Promise<void> {
  const dir = join(lab.dir, `md-${host}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "mdserver.conf"), `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/state\n`);
  const s = new MdserverProcess(lab.hosts[host], join(dir, "mdserver.conf"));
  await s.start();
  servers[host] = s;
}

async function ok(args: string[]): Promise<string> {
  const r = await vmctl(lab, args);
  if (r.code !== 0) throw new Error(`vmctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const established = () =>
  waitUntil("the router's BGP sessions with host1 and host2", 30_000, async () => {
    const r = (await doctor("router")).report.machines[0];
    const up = r?.findings.filter((f) => f.check === "bgp" && f.level === "ok").length;
    return up === 2 ? true : undefined;
  });

describe("vmctl doctor on a fabric in network namespaces", () => {
  beforeAll(async () => {
    lab.create({ routing: "bgp" });
    writeFileSync(
      lab.clusterFile,
      readFileSync(lab.clusterFile, "utf8").replaceAll("qemu:///system", "test:///default"),
    );
    await ok(["net", "create", "net1", "--subnet", "10.10.10.0/24"]);
    await ok(["host", "apply"]);
    await ok(["router", "apply"]);
    await startMdserver("host1");
    await startMdserver("host2");
  }, 120_000);

  afterAll(async () => {
    for (const s of Object.values(servers)) await s?.stop();
    lab.destroy();
  });

  it("finds no error on a healthy fabric and says what it checked on each machine", async () => {
    await established();
    const { code, report } = await doctor();
    expect(
      report.errors,
      JSON.stringify(report.machines.map((m) => of(report, m.machine, "error"))),
    ).toBe(0);
    expect(code).toBe(0);
    expect(report.machines.map((m) => `${m.role} ${m.machine} ${m.target}`)).toEqual([
      `host host1 netns:${lab.hosts.host1}`,
      `host host2 netns:${lab.hosts.host2}`,
      `router router netns:${lab.router}`,
    ]);
    const h1 = of(report, "host1", "ok");
    expect(h1).toContainEqual(expect.stringMatching(/^kernel bridge: (built in|loaded|module)/));
    expect(h1).toContainEqual(expect.stringMatching(/^tool nft: version \d+\.\d+/));
    expect(h1).toContainEqual(expect.stringMatching(/^tool bird: version 2\./));
    expect(h1).toContainEqual(
      expect.stringMatching(/^fabric: all \d+ entries the store needs are in place$/),
    );
    expect(h1).toContainEqual(expect.stringMatching(/^libvirt: test:\/\/\/default: /));
    expect(h1).toContainEqual(
      "mdserver br-net1: 169.254.169.254:80 answers (HTTP 404 from 10.10.10.2)",
    );
    expect(h1).toContainEqual("bgp: host1: BGP router (198.18.0.1) Established");
    expect(of(report, "router", "ok")).toContainEqual(expect.stringMatching(/^tool nft: version /));
    // Namespaces inherit bridge-nf-call-iptables=1 where br_netfilter is in the kernel.
    const warns = of(report, "host1", "warn").join("\n");
    if (warns.includes("br_netfilter"))
      expect(warns).toContain("=> sysctl -w net.bridge.bridge-nf-call-iptables=0");
  });

  it("names a sysctl turned off, a BIRD that is down and an mdserver that is gone, each with its fix", async () => {
    inNs(lab.hosts.host2, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=0"]);
    const pid = lab.birdPid("host2");
    expect(pid).toBeDefined();
    process.kill(pid as number, "SIGKILL");
    await servers.host2?.stop();
    // The router's hold time is 6 s: its session with host2 goes down after it.
    await waitUntil("the router to see host2's session down", 30_000, async () =>
      of((await doctor("router")).report, "router", "error").length > 0 ? true : undefined,
    );
    const { code, report } = await doctor();
    expect(code).toBe(1);
    expect(of(report, "host1", "error")).toEqual([]);
    const h2 = of(report, "host2", "error");
    expect(h2).toContain("fabric: missing: sysctl net.ipv4.ip_forward=1 => vmctl host apply host2");
    expect(h2).toContainEqual(
      expect.stringMatching(
        /^fabric: missing: BIRD running \(socket .*\) => vmctl host apply host2$/,
      ),
    );
    expect(h2).toContainEqual(
      expect.stringMatching(
        /^mdserver br-net1: 169\.254\.169\.254:80 does not answer from 10\.10\.10\.2 .* => start mdserver/,
      ),
    );
    expect(of(report, "router", "error")).toContainEqual(
      expect.stringMatching(/^bgp: router: BGP session with host2 is (?!Established)/),
    );
    // The text form: each problem with its fix under it, and the count as the last line.
    const text = await vmctl(lab, ["doctor", "host2"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(
      /ERROR fabric: missing: sysctl net\.ipv4\.ip_forward=1\n {8}fix: vmctl host apply host2\n/,
    );
    expect(text.stdout).not.toMatch(/^host host1/m);
    expect(text.stderr).toMatch(/^vmctl: \d+ error\(s\) and \d+ warning\(s\), listed above\n$/);
  });

  it("is clean again once the fixes it named are done", async () => {
    await ok(["host", "apply", "host2"]);
    await startMdserver("host2");
    await established();
    const { code, report } = await doctor();
    expect(
      report.errors,
      JSON.stringify(report.machines.map((m) => of(report, m.machine, "error"))),
    ).toBe(0);
    expect(code).toBe(0);
  });

  it("refuses a machine the cluster file does not name", async () => {
    const r = await vmctl(lab, ["doctor", "nohost"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "vmctl: no host or router named nohost in the cluster file (host1, host2, router)\n",
    );
  });
});
