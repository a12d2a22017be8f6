import { AppError } from "../../lib/errors.js";
import { type CliDeps, fabricContext, openStore } from "../context.js";
import type { Direction, StoreData } from "../net/model.js";
import type { TableState } from "../net/nft-table.js";
import {
  addRule,
  allGroups,
  attachGroup,
  createGroup,
  deleteGroup,
  deleteRule,
  describeRule,
  detachGroup,
  findGroup,
  groupUsers,
  portGroups,
  type RuleRequest,
} from "../net/security-groups.js";
import { applySecurityGroups } from "../net/sg-apply.js";
import { readSgTable, ruleInPlace } from "../net/sg-nft.js";
import type { GlobalOptions, Parent } from "../program.js";
import { table } from "./table.js";

/**
 * One change: checked against the store, applied to every host (one `nft -f` each), then
 * written. Under --dry-run the runners print the nft input and the store discards the write.
 */
async function change(
  deps: CliDeps,
  g: GlobalOptions,
  fn: (data: StoreData) => StoreData,
): Promise<void> {
  const ctx = fabricContext(deps, g);
  await ctx.store.update(async (data) => {
    const next = fn(data);
    await applySecurityGroups(ctx, next, data);
    return { data: next, result: undefined };
  });
}

interface RuleFlags {
  ingress?: boolean;
  egress?: boolean;
  proto: string;
  port?: string;
  from?: string;
  to?: string;
}

function ruleRequest(o: RuleFlags): RuleRequest {
  if (o.ingress === o.egress)
    throw new AppError("INVALID", "give exactly one of --ingress, --egress");
  const direction: Direction = o.ingress ? "ingress" : "egress";
  const peer = direction === "ingress" ? o.from : o.to;
  const wrong = direction === "ingress" ? o.to : o.from;
  if (wrong !== undefined)
    throw new AppError(
      "INVALID",
      `--${direction} rules take ${direction === "ingress" ? "--from" : "--to"}, not ${direction === "ingress" ? "--to" : "--from"}`,
    );
  if (peer === undefined)
    throw new AppError(
      "INVALID",
      `--${direction} needs ${direction === "ingress" ? "--from" : "--to"} CIDR|sg:NAME|ipg:NAME`,
    );
  return { direction, proto: o.proto, ...(o.port !== undefined ? { port: o.port } : {}), peer };
}

export function registerSg(program: Parent, deps: CliDeps): void {
  const sg = program.command("sg").description("security groups: stateful allow rules per VM port");
  const say = (g: GlobalOptions, verb: string, past: string, rest: string) =>
    deps.stdout(`${g.dryRun ? `would ${verb}` : past} ${rest}`);
  sg.command("create")
    .description("create an empty security group (it allows nothing until rules are added)")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      await change(deps, g, (d) => createGroup(d, name));
      say(g, "create", "created", `security group ${name}`);
    });
  sg.command("delete")
    .description("delete a security group no port or rule uses")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      await change(deps, g, (d) => deleteGroup(d, name));
      say(g, "delete", "deleted", `security group ${name}`);
    });
  const rule = sg.command("rule").description("a group's allow rules");
  for (const [verb, past, fn] of [
    ["add", "added", addRule],
    ["del", "deleted", deleteRule],
  ] as const) {
    rule
      .command(verb)
      .description(`${verb === "add" ? "add an allow rule to" : "delete a rule from"} a group`)
      .argument("<group>")
      .option("--ingress", "traffic to the group's ports")
      .option("--egress", "traffic from the group's ports")
      .requiredOption("--proto <proto>", "tcp, udp, icmp or any")
      .option("--port <n[-m]>", "tcp/udp destination port or range")
      .option("--from <peer>", "ingress: CIDR, sg:NAME or ipg:NAME")
      .option("--to <peer>", "egress: CIDR, sg:NAME or ipg:NAME")
      .action(async (group, o, self) => {
        const g = self.optsWithGlobals();
        const req = ruleRequest(o);
        await change(deps, g, (d) => fn(d, group, req));
        say(g, verb, past, `rule of ${group}`);
      });
  }
  for (const [verb, past, fn] of [
    ["attach", "attached", attachGroup],
    ["detach", "detached", detachGroup],
  ] as const) {
    sg.command(verb)
      .description(
        `${verb === "attach" ? "put a VM port into" : "take a VM port out of"} a group (set elements only)`,
      )
      .argument("<vm>", "VM name, NETWORK:IP or the port's interface")
      .argument("<group>")
      .action(async (vm, group, _o, self) => {
        const g = self.optsWithGlobals();
        await change(deps, g, (d) => fn(d, vm, group));
        say(g, verb, past, `${vm} ${verb === "attach" ? "to" : "from"} ${group}`);
      });
  }
  sg.command("list")
    .description("list security groups")
    .action((_o, self) => {
      const g = self.optsWithGlobals();
      const data = openStore(g).read();
      const groups = allGroups(data).map((x) => ({
        ...x,
        ports: data.ports.filter((p) => portGroups(p).includes(x.name)).length,
      }));
      if (g.json) {
        deps.stdout(JSON.stringify(groups));
        return;
      }
      const rows = [["NAME", "RULES", "PORTS", "DEFAULT-OF"]];
      for (const x of groups)
        rows.push([x.name, String(x.rules.length), String(x.ports), x.network ?? "-"]);
      for (const line of table(rows)) deps.stdout(line);
    });
  sg.command("show")
    .description("a group's rules, its ports, and on which hosts each rule is in place now")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const { dryRun: _, ...g } = self.optsWithGlobals();
      const ctx = fabricContext(deps, g);
      const data = ctx.store.read();
      const group = findGroup(data, name);
      const members = data.ports.filter((p) => portGroups(p).includes(name));
      const hosts: { host: string; ports: number; cur: TableState | undefined }[] = [];
      for (const h of ctx.cluster.hosts) {
        const cur = await readSgTable(ctx.runnerFor(h.target), data);
        hosts.push({ host: h.name, ports: members.filter((p) => p.host === h.name).length, cur });
      }
      const rules = group.rules.map((r) => ({
        ...r,
        rule: describeRule(r),
        // Enforced where the group has ports; the rule is in every host's table.
        enforcedOn: hosts.filter((h) => h.ports > 0).map((h) => h.host),
        inPlace: Object.fromEntries(hosts.map((h) => [h.host, ruleInPlace(h.cur, group, r)])),
      }));
      const ports = members.map((p) => ({
        network: p.network,
        ip: p.ip,
        host: p.host,
        dev: p.dev,
        ...(p.vm ? { vm: p.vm } : {}),
      }));
      const usedBy = groupUsers(data, name).filter((u) => !u.startsWith("port "));
      if (g.json) {
        deps.stdout(
          JSON.stringify({
            name,
            ...(group.network ? { network: group.network } : {}),
            rules,
            ports,
            referencedBy: usedBy,
          }),
        );
        return;
      }
      deps.stdout(
        `security group ${name}${group.network ? ` (default group of network ${group.network})` : ""}: ${rules.length} rule(s), ${ports.length} port(s)`,
      );
      for (const r of rules) {
        const where = hosts.map((h) => `${h.host} [${r.inPlace[h.host] ? "x" : " "}]`).join(" ");
        deps.stdout(
          `  ${r.rule}  enforced on: ${r.enforcedOn.join(",") || "-"}  in place: ${where}`,
        );
      }
      for (const p of ports)
        deps.stdout(
          `  port ${p.network}:${p.ip} ${p.vm ?? ""} on ${p.host} dev ${p.dev}`.replace(
            "  on",
            " on",
          ),
        );
      if (usedBy.length) deps.stdout(`referenced by: ${usedBy.join(", ")}`);
    });
}
