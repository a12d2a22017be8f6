import { AppError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import { findNetwork } from "../net/network.js";
import type { VmContext } from "./create.js";
import { setReservation } from "./dhcp-server.js";
import { plugInterface, unplugInterface } from "./plug.js";
import { onDomain, tapName, type Vm } from "./vms.js";

/**
 * Starts a VM, first re-plugging its interface if the tap is gone (taps do not survive a host
 * reboot): what is left of the old port goes, then tap and port (with its port security) as
 * create plugs them, and its DHCP reservation with the network's dnsmasq running (a rebooted
 * host without systemd has none).
 */
export async function startVm(vm: Vm, ctx: VmContext): Promise<void> {
  const { host, instance: inst } = vm;
  const run = ctx.fabric.runnerFor(host.target);
  const tap = tapName(inst.uuid);
  const present = await run.probe(cmd("ip", ["link", "show", "dev", tap]));
  if (present.exitCode !== 0) {
    const ip = inst.addresses[0];
    const mac = inst.macs[0];
    if (!ip || !mac || !inst.network) {
      throw new AppError("INVALID", `${inst.name}: its record has no address, MAC or network`);
    }
    const data = ctx.fabric.store.read();
    const net = findNetwork(data, inst.network);
    // The port keeps its security groups across the re-plug.
    const groups = data.ports.find((p) => p.network === net.name && p.ip === ip)?.groups;
    await unplugInterface(ctx.fabric, { host, network: net.name, tap, ips: [ip] });
    await plugInterface(ctx.fabric, {
      host,
      net,
      tap,
      mac,
      ip,
      vm: inst.name,
      ...(groups ? { groups } : {}),
    });
    await setReservation(run, host, net, { add: { mac, ip, name: inst.name } });
    ctx.progress(`${inst.name}: port ${tap} re-plugged into ${net.name}`);
  }
  await ctx.virsh.run(onDomain(host, "start", inst.name, true));
}
