import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { SshKey } from "../../lib/instance.js";
import { domainXml, ec2Uuid, type Identity } from "../libvirt/domain-xml.js";
import type { VirtType } from "../libvirt/virt-type.js";
import type { HostSpec } from "../net/cluster.js";
import { type FabricContext, findHost } from "../net/fabric.js";
import type { Network } from "../net/model.js";
import { findNetwork } from "../net/network.js";
import { preflight } from "../net/preflight.js";
import { checkNotLeased, checkRequestedIp, freeAddresses } from "./allocate.js";
import { type BootMode, chooseBoot, type FirmwareRequest } from "./boot-firmware.js";
import { changeReservation, readLeases, setReservation, withDhcpLock } from "./dhcp-server.js";
import { overlayAccess, privateDir } from "./disk-access.js";
import { removeHostFile } from "./host-files.js";
import type { Image } from "./images.js";
import { sizeInstanceType } from "./instance-type.js";
import { checkVmName } from "./names.js";
import { plugInterface, unplugInterface } from "./plug.js";
import { Rollback } from "./rollback.js";
import { listVms, macFor, onDomain, tapName, undefineDomain, virsh, vmPaths } from "./vms.js";

export interface CreateRequest {
  name: string;
  network: string;
  image: Image;
  host?: string;
  cpus: number;
  memoryMiB: number;
  diskBytes?: number;
  sshKeys: SshKey[];
  passwordHash?: string;
  /** Bytes: a gzip'd user-data reaches the guest as it is. */
  userData?: Buffer;
  ip?: string;
  identity: Identity;
  loginUser?: string;
  /** --firmware/--secure-boot, checked against the image by chooseBoot. */
  firmware?: FirmwareRequest;
  /** Security groups of its port (`--sg`); absent: the network's default group. */
  groups?: string[];
}

export interface VmContext {
  fabric: FabricContext;
  virsh: Runner;
  virtType: (host: HostSpec) => Promise<VirtType>;
  progress(line: string): void;
}

export interface Created {
  name: string;
  uuid: string;
  host: HostSpec;
  net: Network;
  ip: string;
  mac: string;
  consoleLog: string;
  rollback: Rollback;
}

/**
 * Everything up to `virsh start`, each step with its undo. The caller waits for the boot and,
 * on any failure, runs `rollback` so nothing half-created stays behind.
 */
export async function createVm(req: CreateRequest, ctx: VmContext): Promise<Created> {
  const { fabric } = ctx;
  checkVmName(req.name);
  const boot = chooseBoot(req.image, req.firmware ?? {});
  const host = req.host
    ? findHost(fabric.cluster, req.host)
    : (fabric.cluster.hosts[0] as HostSpec);
  const net = findNetwork(fabric.store.read(), req.network);
  if (req.ip) checkRequestedIp(net, req.ip);
  const run = fabric.runnerFor(host.target);
  // Before anything: a host that is down or refuses the key is one line (docs/ssh-targets.md).
  await preflight(run, host.name, ["qemu-img"]);
  const [existing, clash, leases] = await Promise.all([
    listVms(fabric.cluster, ctx.virsh, ctx.progress),
    ctx.virsh.probe(onDomain(host, "domstate", req.name)),
    readLeases(run, host, net),
  ]);
  if (existing.some((v) => v.instance.name === req.name)) {
    throw new AppError("EXISTS", `a VM named ${req.name} exists (vmctl delete ${req.name} first)`);
  }
  if (clash.exitCode === 0)
    throw new AppError("EXISTS", `libvirt on ${host.name} already has a domain named ${req.name}`);
  // dnsmasq refuses a reserved address to a MAC while it holds a lease of it for another one.
  if (req.ip) checkNotLeased(fabric.store.read(), net, req.ip, leases, host.name);
  const leased = new Set(leases.map((l) => l.ip));
  const usedMacs = new Set(existing.flatMap((v) => v.instance.macs));
  let uuid = req.identity === "ec2" ? ec2Uuid() : randomUUID();
  while (usedMacs.has(macFor(uuid))) uuid = req.identity === "ec2" ? ec2Uuid() : randomUUID();

  const rollback = new Rollback();
  const mac = macFor(uuid);
  const tap = tapName(uuid);
  const paths = vmPaths(host, req.name);
  try {
    // Steps that do not depend on each other run side by side (each registers its own undo);
    // `settled` waits for all of them before a failure starts the rollback.
    // 1. The disk (a qcow2 overlay on the read-only base, grown if asked), the virt type, and
    //    the address and port: tap, port security, routes (host /32 before the port is up).
    const [, virtType, ip] = await settled([
      makeDisk(run, host, req, paths.disk).then(() => {
        rollback.push("disk", () => removeHostFile(run, paths.disk));
        ctx.progress(`${req.name}: disk ${paths.disk} on ${req.image.name}, ${bootLabel(boot)}`);
      }),
      ctx.virtType(host),
      plugIn(req, ctx, { host, net, tap, mac, rollback, leased }),
    ] as const);
    ctx.progress(`${req.name}: ${ip} on ${net.name} via ${tap} on ${host.name}`);

    // 2. The domain with the instance record mdserver serves, and the DHCP reservation.
    const xml = domainXml({
      name: req.name,
      uuid,
      memoryMiB: req.memoryMiB,
      vcpus: req.cpus,
      disk: paths.disk,
      ...(req.image.kernel
        ? {
            boot: {
              kernel: req.image.kernel,
              ...(req.image.initrd ? { initrd: req.image.initrd } : {}),
              cmdline: req.image.cmdline ?? "root=/dev/vda console=ttyS0",
            },
          }
        : {}),
      ...(boot.kind === "uefi"
        ? { uefi: { secureBoot: boot.secureBoot, nvram: paths.nvram } }
        : {}),
      bridge: net.bridge,
      tap,
      mac,
      consoleLog: paths.consoleLog,
      identity: req.identity,
      virtType,
      // No hostname: it equals the name, and mdserver derives it (with its hostname-prefix).
      metadata: {
        network: net.name,
        subnet: net.subnet,
        gateway: net.gateway,
        addresses: [ip],
        sshKeys: req.sshKeys,
        ...(req.passwordHash ? { passwordHash: req.passwordHash } : {}),
        ...(req.userData !== undefined ? { userData: req.userData } : {}),
        image: req.image.name,
        instanceType: sizeInstanceType(req.cpus, req.memoryMiB),
        created: new Date().toISOString(),
        ...(req.loginUser ? { loginUser: req.loginUser } : {}),
      },
    });
    // The DHCP undo goes first: the file is written before dnsmasq (re)starts, which may fail.
    rollback.push("DHCP reservation", () => setReservation(run, host, net, { removeMac: mac }));
    // Define under the DHCP lock too: `host apply`, which drops reservations without a domain,
    // then sees both or neither.
    await withDhcpLock(run, host, net, () =>
      settled([
        changeReservation(run, host, net, { add: { mac, ip, name: req.name } }),
        defineDomain(ctx.virsh, host, xml).then(() =>
          rollback.push("domain", async () => {
            await ctx.virsh.probe(onDomain(host, "destroy", req.name, true));
            await ctx.virsh.run(undefineDomain(host, req.name));
          }),
        ),
      ]),
    );

    // 3. Start.
    await ctx.virsh.run(onDomain(host, "start", req.name, true));
    return {
      name: req.name,
      uuid,
      host,
      net,
      ip,
      mac,
      consoleLog: paths.consoleLog,
      rollback,
    };
  } catch (err) {
    await rollback.undoAfter(err);
    throw err;
  }
}

async function makeDisk(run: Runner, host: HostSpec, req: CreateRequest, disk: string) {
  // The disk is born 0644 (qemu-img's umask) inside a directory only root and QEMU can enter.
  await run.run(privateDir(`${host.stateDir}/disks`));
  await run.run(cmd("mkdir", ["-p", "-m", "0755", "--", `${host.stateDir}/console`], true));
  // libvirt (root) writes a UEFI guest's variable store here; only root and QEMU read it.
  if (req.image.kernel === undefined) await run.run(privateDir(`${host.stateDir}/nvram`));
  const size = req.diskBytes ? [String(req.diskBytes)] : [];
  const args = ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", req.image.file, disk, ...size];
  await run.run(cmd("qemu-img", args, true));
  try {
    for (const c of overlayAccess(disk)) await run.run(c);
  } catch (err) {
    await removeHostFile(run, disk); // its undo is registered only once makeDisk succeeds
    throw err;
  }
}

function bootLabel(boot: BootMode): string {
  if (boot.kind === "kernel") return "direct kernel boot";
  if (boot.kind === "bios") return "BIOS boot";
  return `UEFI boot, secure boot ${boot.secureBoot ? "on" : "off"}`;
}

/** Like Promise.all, but waits for every step to finish before reporting the first failure. */
async function settled<T extends readonly unknown[]>(
  steps: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** Plugs the VM in at the requested or the lowest free address a concurrent create left. */
async function plugIn(
  req: CreateRequest,
  ctx: VmContext,
  p: {
    host: HostSpec;
    net: Network;
    tap: string;
    mac: string;
    rollback: Rollback;
    leased: Set<string>;
  },
): Promise<string> {
  const candidates = req.ip ? [req.ip] : freeAddresses(ctx.fabric.store.read(), p.net, p.leased);
  for (const ip of candidates) {
    try {
      await plugInterface(ctx.fabric, {
        host: p.host,
        net: p.net,
        tap: p.tap,
        mac: p.mac,
        ip,
        vm: req.name,
        ...(req.groups ? { groups: req.groups } : {}),
      });
    } catch (err) {
      const taken = err instanceof AppError && err.code === "EXISTS";
      if (taken && !req.ip) continue; // a concurrent create got it first: try the next one
      if (taken) throw new AppError("EXISTS", `--ip ${ip}: already used in network ${p.net.name}`);
      throw err;
    }
    p.rollback.push("port", () =>
      unplugInterface(ctx.fabric, { host: p.host, network: p.net.name, tap: p.tap, ips: [ip] }),
    );
    return ip;
  }
  throw new AppError("FULL", `network ${p.net.name} has no free address left`);
}

/** virsh reads the XML from a file: a Runner's stdin is a socket, which /dev/stdin cannot open. */
async function defineDomain(runner: Runner, host: HostSpec, xml: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "vmctl-"));
  try {
    writeFileSync(join(dir, "domain.xml"), xml);
    await runner.run(virsh(host, ["define", "--", join(dir, "domain.xml")], true));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
