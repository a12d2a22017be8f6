import { AppError, lastLine } from "../../lib/errors.js";
import { quote } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { Instance } from "../../lib/instance.js";
import { instanceFromDomainXml } from "../../lib/metadata-xml.js";
import { splitDomainXml, virshCommand } from "../../lib/virsh.js";
import type { Cluster, HostSpec } from "../net/cluster.js";

/** A vmctl VM: a libvirt domain that carries our <metadata> element with a network. */
export interface Vm {
  host: HostSpec;
  state: string;
  instance: Instance;
}

export function virsh(host: HostSpec, args: string[], mutates = false, input?: string) {
  return virshCommand(host.libvirt, args, mutates, input);
}

/**
 * `virsh VERB -- NAME`: a domain name is data, never an option, even one that starts with `-`
 * (names of domains vmctl did not create are anything libvirt allows).
 */
export function onDomain(host: HostSpec, verb: string, name: string, mutates = false) {
  return virsh(host, [verb, "--", name], mutates);
}

/**
 * Undefines a domain and, if it has one, its UEFI variable store: libvirt refuses to undefine
 * a domain with an NVRAM file unless told to remove or keep it; without one the flag is a no-op.
 */
export function undefineDomain(host: HostSpec, name: string) {
  return virsh(host, ["undefine", "--nvram", "--", name], true);
}

// virsh's own words for a domain's state (virshDomainStateToString), longest first.
const STATES = "in shutdown|shut off|no state|pmsuspended|running|crashed|paused|idle";
const ROW = new RegExp(`^\\s*(\\S+)\\s+(.+?)\\s+(${STATES})\\s*$`);

/**
 * `virsh list --all` rows: ` 3    web1   running` / ` -    web2   shut off`. A name may hold
 * spaces, so the state is matched by its words and the name is what lies between.
 */
export function parseDomainList(text: string): { name: string; state: string }[] {
  return text
    .split("\n")
    .map((l) => ROW.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[2] as string, state: m[3] as string }));
}

/** Every host's VMs: one `virsh list` and one batched `dumpxml` per host (no call per VM). */
export async function listVms(
  cluster: Cluster,
  virshRunner: Runner,
  warn?: (line: string) => void,
): Promise<Vm[]> {
  const perHost = await Promise.all(
    cluster.hosts.map(async (host) => {
      const list = await virshRunner.probe(virsh(host, ["list", "--all"]));
      if (list.exitCode !== 0) {
        const why = `${host.name}: cannot list domains at ${host.libvirt}: ${lastLine(list.stderr)}`;
        // One host down must not hide the others' VMs: callers that can go on pass `warn`.
        if (!warn) throw new AppError("LIBVIRT", why);
        warn(`vmctl: warning: ${why}`);
        return [];
      }
      const domains = parseDomainList(list.stdout);
      if (domains.length === 0) return [];
      const dump = await virshRunner.run(
        // virsh splits its own command line (`dumpxml A; dumpxml B`) as a POSIX shell does
        // (virsh(1) "quoting"): shell quoting keeps a name such as `it's; x` one word.
        virsh(host, [domains.map((d) => `dumpxml -- ${quote(d.name)}`).join("; ")]),
      );
      const states = new Map(domains.map((d) => [d.name, d.state]));
      return splitDomainXml(dump.stdout)
        .flatMap((doc) => instanceFromDomainXml(doc) ?? [])
        .filter((inst) => inst.network !== undefined)
        .map((instance) => ({ host, instance, state: states.get(instance.name) ?? "unknown" }));
    }),
  );
  return perHost.flat().sort((a, b) => a.instance.name.localeCompare(b.instance.name));
}

export async function findVm(cluster: Cluster, virshRunner: Runner, name: string): Promise<Vm> {
  const vm = (await listVms(cluster, virshRunner, () => {})).find((v) => v.instance.name === name);
  if (!vm) throw new AppError("NOT_FOUND", `no VM named ${name} (see: vmctl list)`);
  return vm;
}

/** Where a VM's files live on its host. */
export function vmPaths(host: HostSpec, name: string) {
  return {
    disk: `${host.stateDir}/disks/${name}.qcow2`,
    consoleLog: `${host.stateDir}/console/${name}.log`,
    /** A UEFI guest's own variable store (libvirt copies the firmware's template there). */
    nvram: `${host.stateDir}/nvram/${name}.fd`,
  };
}

/** The tap and MAC come from the UUID: stable, unique, known before anything exists. */
export function tapName(uuid: string): string {
  return `vm${uuid.replaceAll("-", "").slice(3, 13)}`;
}

export function macFor(uuid: string): string {
  const hex = uuid.replaceAll("-", "").slice(-6);
  return `52:54:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}
