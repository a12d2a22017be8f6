import { AppError } from "../../lib/errors.js";
import { type Command, cmd, formatCommand } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import { applySteps, rollback } from "./apply.js";
import { type FabricContext, findHost } from "./fabric.js";
import { hostPortRoute } from "./host-plan.js";
import type { Network, Port, StoreData } from "./model.js";
import { checkPortAddress, findNetwork } from "./network.js";
import { ip, NO_STATE, routeItem, type Step, stepOf } from "./plan-items.js";
import { portLinkSteps, securePorts, securityDesired } from "./port-security.js";
import { preflight } from "./preflight.js";
import { routerPortRoute } from "./router-plan.js";
import { checkGroupList } from "./security-groups.js";
import { applySecurityGroups } from "./sg-apply.js";

/**
 * The port's /32 on its host and (routing: static) on every router, as the planners describe
 * them. With routing: bgp the host's BIRD announces the host /32 and no router needs a command.
 */
function portRoutes(ctx: FabricContext, net: Network, port: Port) {
  const host = findHost(ctx.cluster, port.host);
  const routers = ctx.cluster.routing === "static" ? ctx.cluster.routers : [];
  return {
    host: routeItem(NO_STATE, net.name, hostPortRoute(net, port.ip)),
    routers: routers.map((r) => ({
      name: r.name,
      runner: ctx.runnerFor(r.target),
      item: routeItem(
        NO_STATE,
        net.name,
        routerPortRoute(r, { ...port, hostAddress: host.address }),
      ),
    })),
  };
}

async function requireBridge(runner: Runner, host: string, net: Network): Promise<void> {
  const r = await runner.probe(cmd("ip", ["-json", "link", "show", "dev", net.bridge]));
  if (r.exitCode !== 0)
    throw new AppError(
      "NOT_APPLIED",
      `${host}: bridge ${net.bridge} missing; run: vmctl host apply ${host}`,
    );
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A port's MAC: well-formed, unicast, and no other port of the network has it. */
function checkPortMac(data: StoreData, net: Network, text: string): string {
  const mac = text.toLowerCase();
  if (!MAC.test(mac) || Number.parseInt(mac.slice(0, 2), 16) & 1)
    throw new AppError(
      "INVALID",
      `--mac ${text}: not a unicast MAC address (use 52:54:00:12:34:56)`,
    );
  const taken = data.ports.find((p) => p.network === net.name && p.mac === mac);
  if (taken)
    throw new AppError(
      "CONFLICT",
      `--mac ${text}: already used by ${taken.ip} in network ${net.name}`,
    );
  return mac;
}

/** Port security for these ports of a host (the store's view plus or minus one port). */
function secure(ctx: FabricContext, data: StoreData, host: string, ports: Port[]): Promise<void> {
  const runner = ctx.runnerFor(findHost(ctx.cluster, host).target);
  const onHost = ports.filter((p) => p.host === host);
  return securePorts(runner, host, securityDesired(data.networks, onHost), (line) =>
    ctx.onCommand(`${host}: ${line}`),
  );
}

/**
 * Plugs a VM interface into its network. Port security goes in first: its set elements key on
 * the interface name, so the port is guarded from its first frame on the bridge. The host /32
 * goes in BEFORE the port comes up: otherwise the bridge's proxy ARP answers for the new VM
 * first and its local traffic hairpins through the router (docs/fabric.md pitfall 3).
 */
export async function attachPort(ctx: FabricContext, request: Port): Promise<Port> {
  return ctx.store.update(async (data) => {
    const net = findNetwork(data, request.network);
    const host = findHost(ctx.cluster, request.host);
    checkPortAddress(data, net, request.ip);
    const port = { ...request, mac: checkPortMac(data, net, request.mac) };
    if (port.groups) checkGroupList(data, port.groups);
    const next = { ...data, ports: [...data.ports, port] };
    const hostRunner = ctx.runnerFor(host.target);
    const routes = portRoutes(ctx, net, port);
    await preflight(hostRunner, host.name, ["ip", "nft", "bridge"]);
    for (const r of routes.routers) await preflight(r.runner, r.name, ["ip"]);
    await requireBridge(hostRunner, host.name, net);
    await secure(ctx, data, host.name, [...data.ports, port]);
    // Its security groups before its first frame too: this host's filter and every host's
    // member addresses (element updates only).
    try {
      await applySecurityGroups(ctx, next, data);
    } catch (err) {
      await secure(ctx, data, host.name, data.ports).catch(() => {});
      throw err;
    }
    const undoSecurity = async () => {
      await applySecurityGroups(ctx, data).catch(() => {});
      await secure(ctx, data, host.name, data.ports).catch(() => {});
    };
    const hostSteps: Step[] = [
      stepOf(routes.host),
      {
        command: ip("link", "set", "dev", port.dev, "master", net.bridge),
        undo: ip("link", "set", "dev", port.dev, "nomaster"),
      },
      ...portLinkSteps(port),
      { command: ip("link", "set", "dev", port.dev, "up") },
    ];
    const log = (m: string) => (line: string) => ctx.onCommand(`${m}: ${line}`);
    let applied: Step[];
    try {
      applied = await applySteps(hostRunner, host.name, hostSteps, log(host.name));
    } catch (err) {
      await undoSecurity();
      throw err;
    }
    const done: typeof routes.routers = [];
    for (const r of routes.routers) {
      try {
        await applySteps(r.runner, r.name, [{ command: r.item.command }], log(r.name));
        done.push(r);
      } catch (err) {
        for (const d of done.reverse()) await rollback(d.runner, [stepOf(d.item)]);
        await rollback(hostRunner, applied);
        await undoSecurity();
        throw err;
      }
    }
    return { data: next, result: port };
  });
}

/** Deletions that find nothing to delete are fine: detach must work after a partial failure. */
function gone(stderr: string): boolean {
  return /No such process|Cannot find device|does not exist|No such file/.test(stderr);
}

/**
 * Unplugs a VM address: the router's /32 first (senders get ICMP unreachable, not a black
 * hole; with routing: bgp removing the host's /32 withdraws it), then the host's /32 and the port, then a gratuitous ARP "ip is-at <bridge MAC>" so
 * old neighbours on the bridge stop sending to the VM's MAC — without it a moved VM stays
 * unreachable from them for ~35 s (docs/fabric.md pitfall 7).
 */
export async function detachPort(
  ctx: FabricContext,
  ref: { network: string; ip: string },
): Promise<Port> {
  return ctx.store.update(async (data) => {
    const net = findNetwork(data, ref.network);
    const port = data.ports.find((p) => p.network === ref.network && p.ip === ref.ip);
    if (!port) throw new AppError("NOT_FOUND", `no port ${ref.ip} in network ${ref.network}`);
    const host = findHost(ctx.cluster, port.host);
    const hostRunner = ctx.runnerFor(host.target);
    const routes = portRoutes(ctx, net, port);
    await preflight(hostRunner, host.name, ["ip", "arping", "nft"]);
    for (const r of routes.routers) await preflight(r.runner, r.name, ["ip"]);
    const run = async (runner: Runner, machine: string, command: Command | undefined) => {
      if (!command) return;
      const r = await runner.probe(command);
      if (r.exitCode !== 0 && !gone(r.stderr))
        throw new AppError(
          "APPLY",
          `${machine}: ${formatCommand(command)} failed: ${r.stderr.trim()}`,
        );
      if (r.exitCode === 0) ctx.onCommand(`${machine}: ${formatCommand(command)}`);
    };
    for (const r of routes.routers) await run(r.runner, r.name, r.item.undo);
    await run(hostRunner, host.name, routes.host.undo);
    await run(hostRunner, host.name, ip("link", "set", "dev", port.dev, "nomaster"));
    const rest = data.ports.filter((p) => p !== port);
    await secure(ctx, data, host.name, rest);
    await applySecurityGroups(ctx, { ...data, ports: rest });
    const garp = ["-q", "-U", "-c1", "-w", "0.2", "-S", port.ip, "-i", net.bridge, port.ip];
    // arping exits 1 when nobody replies, which is normal for an unsolicited ARP.
    const r = await hostRunner.probe(cmd("arping", garp, true));
    if (r.exitCode > 1)
      throw new AppError("APPLY", `${host.name}: arping failed: ${r.stderr.trim()}`);
    ctx.onCommand(`${host.name}: arping ${garp.join(" ")}`);
    return { data: { ...data, ports: rest }, result: port };
  });
}
