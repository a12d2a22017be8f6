import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { type Command, formatCommand, formatTarget, type Target } from "../../lib/exec/command.js";
import type { RunResult } from "../../lib/exec/runner.js";
import { type CliDeps, run } from "../../vmctl/cli.js";
import { RecordingRunner } from "./recording-runner.js";

const CLUSTER = `hosts:
  - {name: host1, address: 198.18.0.11, lan: eth0, target: "netns:h1", libvirt: "qemu:///system", state-dir: /srv/h1, mdserver-state-dir: /srv/md}
router: {name: router, address: 198.18.0.1, lan: eth0, uplink: up0, target: "netns:rt"}
`;
export const KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@b";

/** The tools vmctl's commands run on hosts and the router. */
const TOOLS = [
  ...["ip", "sysctl", "ipset", "iptables", "true", "arping", "virsh", "qemu-img", "ebtables"],
  ...["ebtables-restore", "dnsmasq", "kill", "mkdir", "rm", "cat", "test", "mv", "chmod"],
  ...["chown", "install", "nft", "bridge"],
  ...["ssh-keyscan", "ssh", "dd", "flock", "timeout", "ls"],
  ...["uname", "zcat", "curl", "qemu-system-x86_64", "bird", "birdc"],
];

/** A domain the fake libvirt lists: its name, state and `virsh dumpxml` text. */
export interface FakeDomain {
  name: string;
  state: string;
  xml: string;
}

/**
 * The whole vmctl CLI against recording machines (one host, the router) and a temp state dir
 * with a cached image: for command-level unit tests. `answer` may override any reply; files on
 * the host are answered from `hostFiles` (path → text).
 */
export function fakeCluster(
  opts: {
    domains?: FakeDomain[];
    hostFiles?: Record<string, string>;
    answer?: (c: Command) => Partial<RunResult> | undefined;
    /** Another cluster file (default: host1 on netns:h1, the router on netns:rt). */
    cluster?: string;
  } = {},
) {
  const d = mkdtempSync(join(tmpdir(), "vmctl-fake-"));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(join(d, "cluster.yaml"), opts.cluster ?? CLUSTER);
  writeFileSync(join(d, "key.pub"), `${KEY}\n`);
  mkdirSync(join(d, "state/images"), { recursive: true });
  const image = { name: "deb", file: "/img/deb.qcow2", format: "qcow2", virtualSize: 2 ** 31 };
  writeFileSync(join(d, "state/images/deb.json"), JSON.stringify({ ...image, imported: "" }));
  const domains = opts.domains ?? [];
  const out: string[] = [];
  const err: string[] = [];
  const runners = new Map<string, RecordingRunner>();
  /** Commands run with the terminal attached (ssh, console), as `target: command`. */
  const interactive: string[] = [];
  const answer = (c: Command): Partial<RunResult> | undefined => {
    const own = opts.answer?.(c);
    if (own) return own;
    if (c.file === "virsh") return virshAnswer(domains, c.args);
    if ((c.file === "ip" || c.file === "bridge") && c.args.includes("-json"))
      return { stdout: "[]" };
    // A host without vmctl's port security table yet.
    if (c.file === "nft" && c.args[0] === "-j")
      return { exitCode: 1, stderr: "Error: No such file or directory\n" };
    if (c.file === "cat") {
      const text = opts.hostFiles?.[c.args.at(-1) ?? ""];
      return text === undefined ? { exitCode: 1 } : { stdout: text };
    }
    if (c.file === "test" && c.args.includes("/run/systemd/system")) return { exitCode: 1 };
    return TOOLS.includes(c.file) ? {} : undefined;
  };
  const deps: CliDeps = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    clusterPath: join(d, "cluster.yaml"),
    stateDir: join(d, "state"),
    readFile: (p) => readFileSync(p, "utf8"),
    runnerFor: (t: Target) => {
      const key = formatTarget(t);
      let r = runners.get(key);
      if (!r) {
        r = new RecordingRunner(t, answer, `the tools of vmctl's commands: ${TOOLS.join(", ")}`);
        runners.set(key, r);
      }
      return r;
    },
    interactive: async (target, command) => {
      interactive.push(`${formatTarget(target)}: ${formatCommand(command)}`);
      return 0;
    },
  };
  const commands = () =>
    [...runners.entries()].flatMap(([t, r]) => r.commands.map((c) => ({ target: t, ...c })));
  return {
    d,
    deps,
    out,
    err,
    interactive,
    vmctl: (...argv: string[]) => run(argv, deps),
    /** Every command any machine ran, as `target: command`. */
    commands,
    /** The mutating ones. */
    mutations: () =>
      commands()
        .filter((c) => c.mutates)
        .map((c) => `${c.target}: ${formatCommand(c)}`),
    /** Every file under the state dir with its bytes. */
    stateFiles: () => snapshot(join(d, "state")),
    clear: () => {
      out.length = 0;
      err.length = 0;
      for (const r of runners.values()) r.commands.length = 0;
    },
  };
}

function virshAnswer(domains: FakeDomain[], args: string[]): Partial<RunResult> {
  if (args.includes("list"))
    return { stdout: domains.map((x, i) => ` ${i + 1}    ${x.name}   ${x.state}\n`).join("") };
  const batch = args.at(-1) ?? "";
  if (batch.startsWith("dumpxml")) {
    return { stdout: domains.map((x) => x.xml).join("\n") };
  }
  if (args.includes("domstate")) {
    const x = domains.find((d) => args.includes(d.name));
    return x ? { stdout: `${x.state}\n` } : { exitCode: 1, stderr: "error: failed to get domain" };
  }
  return {};
}

function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const f = join(p, e.name);
      if (e.isDirectory()) walk(f);
      else files[f] = readFileSync(f, "latin1");
    }
  };
  walk(dir);
  return files;
}

/** A vmctl VM's domain XML as `virsh dumpxml` prints it. */
export function vmDomainXml(
  name: string,
  uuid: string,
  ip: string,
  mac: string,
  loginUser = "debian",
): string {
  return `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid><metadata><vmctl:instance xmlns:vmctl="urn:vmctl:instance:1"><vmctl:network>net1</vmctl:network><vmctl:ip>${ip}</vmctl:ip><vmctl:login-user>${loginUser}</vmctl:login-user></vmctl:instance></metadata><devices><interface type='ethernet'><mac address='${mac}'/></interface></devices></domain>`;
}
