import { bootRecordPath } from "../../lib/boot-record.js";
import type { VmContext } from "./create.js";
import { setReservation } from "./dhcp-server.js";
import { removeHostFile } from "./host-files.js";
import { knownHostsPath } from "./known-hosts.js";
import { unplugInterface } from "./plug.js";
import { onDomain, tapName, undefineDomain, type Vm, vmPaths } from "./vms.js";

/**
 * Removes a VM and everything create made for it: domain, port (router and host /32, gratuitous
 * ARP, port security), tap, DHCP reservation, disk (unless keepDisk), console log,
 * pinned host key and mdserver's boot record. Every step tolerates "already gone".
 */
export async function deleteVm(vm: Vm, keepDisk: boolean, ctx: VmContext): Promise<void> {
  const { host, instance: inst } = vm;
  const run = ctx.fabric.runnerFor(host.target);
  await ctx.virsh.probe(onDomain(host, "destroy", inst.name, true));
  await ctx.virsh.run(undefineDomain(host, inst.name));
  ctx.progress(`${inst.name}: domain removed from ${host.name}`);
  const tap = tapName(inst.uuid);
  if (inst.network)
    await unplugInterface(ctx.fabric, { host, network: inst.network, tap, ips: inst.addresses });
  const data = ctx.fabric.store.read();
  const mac = inst.macs[0];
  const net = inst.network ? data.networks.find((n) => n.name === inst.network) : undefined;
  // Also drops its lease, or dnsmasq would refuse the address to the next VM given it.
  if (net && mac) await setReservation(run, host, net, { removeMac: mac });
  const paths = vmPaths(host, inst.name);
  if (!keepDisk) await removeHostFile(run, paths.disk);
  await removeHostFile(run, paths.consoleLog);
  // libvirt removed it with the domain; this catches one a failed undefine left.
  await removeHostFile(run, paths.nvram);
  await removeHostFile(run, knownHostsPath(host, inst.name));
  await removeHostFile(run, bootRecordPath(host.mdserverStateDir, inst.uuid));
  ctx.progress(
    `${inst.name}: port, DHCP reservation and lease${keepDisk ? "" : ", disk"} and records removed`,
  );
}
