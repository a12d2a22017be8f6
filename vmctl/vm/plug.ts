import { AppError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { HostSpec } from "../net/cluster.js";
import type { FabricContext } from "../net/fabric.js";
import type { Network } from "../net/model.js";
import { attachPort, detachPort } from "../net/port.js";

/** A VM interface on its host: the tap and its fabric port (with the port security). */
export interface VmInterface {
  host: HostSpec;
  net: Network;
  tap: string;
  mac: string;
  ip: string;
  /** Recorded on the port, so `vmctl sg attach VM SG` finds it by the VM's name. */
  vm?: string;
  groups?: string[];
}

/**
 * Plugs a VM interface in: the tap, then the port (port security, host /32 before the port is
 * up). The port is recorded under the store's lock, which is what makes the address ours: a
 * taken address fails with code EXISTS. On any failure the tap is removed again.
 */
export async function plugInterface(fabric: FabricContext, i: VmInterface): Promise<void> {
  const run = fabric.runnerFor(i.host.target);
  await run.run(cmd("ip", ["tuntap", "add", "dev", i.tap, "mode", "tap"], true));
  try {
    const port = {
      network: i.net.name,
      host: i.host.name,
      ip: i.ip,
      dev: i.tap,
      mac: i.mac,
      ...(i.vm ? { vm: i.vm } : {}),
      ...(i.groups ? { groups: i.groups } : {}),
    };
    await attachPort(fabric, port);
  } catch (err) {
    await removeTap(run, i.tap);
    throw err;
  }
}

/**
 * Unplugs a VM interface: the ports recorded for its addresses (router and host /32,
 * gratuitous ARP, port security), then the tap. What is already gone is skipped, so it also cleans up
 * after a partial create or a host reboot.
 */
export async function unplugInterface(
  fabric: FabricContext,
  i: { host: HostSpec; network: string; tap: string; ips: string[] },
): Promise<void> {
  const recorded = fabric.store
    .read()
    .ports.filter((p) => p.network === i.network && i.ips.includes(p.ip));
  for (const p of recorded) await detachPort(fabric, { network: p.network, ip: p.ip });
  await removeTap(fabric.runnerFor(i.host.target), i.tap);
}

async function removeTap(run: Runner, tap: string): Promise<void> {
  const r = await run.probe(cmd("ip", ["link", "del", "dev", tap], true));
  if (r.exitCode !== 0 && !/Cannot find device/.test(r.stderr))
    throw new AppError("APPLY", `ip link del dev ${tap} failed: ${r.stderr.trim()}`);
}
