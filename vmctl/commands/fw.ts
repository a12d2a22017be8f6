import { AppError } from "../../lib/errors.js";
import { type CliDeps, openStore } from "../context.js";
import { checkFwRule, describeFwRule, type FwRequest, parsePorts } from "../net/fw-rules.js";
import type { FwRule, StoreData } from "../net/model.js";
import type { Parent } from "../program.js";
import { wholeNumber } from "./flag-parsers.js";

const PROTOS = ["tcp", "udp", "icmp", "any"] as const;

function proto(text: string): FwRule["proto"] {
  if ((PROTOS as readonly string[]).includes(text)) return text as FwRule["proto"];
  throw new AppError("INVALID", `--proto ${text}: one of ${PROTOS.join(", ")}`);
}

function findRule(data: StoreData, id: number): FwRule {
  const r = (data.firewall ?? []).find((x) => x.id === id);
  if (!r) throw new AppError("NOT_FOUND", `no perimeter rule #${id} (see: vmctl fw list)`);
  return r;
}

const APPLY = "now run: vmctl router apply";

/** `vmctl fw`: the perimeter firewall's ordered rules in the store (enforced by router apply). */
export function registerFw(program: Parent, deps: CliDeps): void {
  const fw = program
    .command("fw")
    .description("perimeter firewall between networks (ordered rules, final deny)");
  for (const action of ["allow", "deny"] as const) {
    fw.command(action)
      .description(`${action} new connections from one network (or CIDR) to another`)
      .argument("<from>", "network name, CIDR or ipg:NAME")
      .argument("<to>", "network name, CIDR or ipg:NAME")
      .requiredOption("--proto <proto>", "tcp, udp, icmp or any", proto)
      .option("--port <n[-m]>", "destination port or range (tcp, udp)", parsePorts)
      .option(
        "--at <position>",
        "insert at this position (1 = first; default: last)",
        wholeNumber("--at", 1, 100000),
      )
      .action(async (from, to, o, self) => {
        const g = self.optsWithGlobals();
        const req: FwRequest = {
          action,
          from,
          to,
          proto: o.proto,
          ...(o.port ? { ports: o.port } : {}),
        };
        const rule = await openStore(g).update(async (data) => {
          checkFwRule(data, req);
          const rules = data.firewall ?? [];
          const r: FwRule = { id: Math.max(0, ...rules.map((x) => x.id)) + 1, ...req };
          const at = Math.min((o.at ?? rules.length + 1) - 1, rules.length);
          const next = [...rules.slice(0, at), r, ...rules.slice(at)];
          // Under --dry-run the store discards the write.
          return { data: { ...data, firewall: next }, result: r };
        });
        if (g.json) deps.stdout(JSON.stringify(rule));
        else
          deps.stdout(
            `${g.dryRun ? "would add" : "added"} rule #${rule.id} ${describeFwRule(rule)}; ${APPLY}`,
          );
      });
  }
  fw.command("list")
    .description("the rules in the order they are matched")
    .action((_o, self) => {
      const g = self.optsWithGlobals();
      const rules = openStore(g).read().firewall ?? [];
      if (g.json) {
        deps.stdout(JSON.stringify(rules));
        return;
      }
      for (const [i, r] of rules.entries()) deps.stdout(`${i + 1}. #${r.id} ${describeFwRule(r)}`);
      deps.stdout(
        `${rules.length + 1}. deny everything else between networks (internet egress per network)`,
      );
    });
  fw.command("del")
    .description("delete a rule by its #id")
    .argument("<id>", "rule id (vmctl fw list)", wholeNumber("id", 1, Number.MAX_SAFE_INTEGER))
    .action(async (id, _o, self) => {
      const g = self.optsWithGlobals();
      const r = await openStore(g).update(async (data) => {
        const rule = findRule(data, id);
        return {
          data: { ...data, firewall: (data.firewall ?? []).filter((x) => x.id !== id) },
          result: rule,
        };
      });
      deps.stdout(
        `${g.dryRun ? "would delete" : "deleted"} rule #${r.id} ${describeFwRule(r)}; ${APPLY}`,
      );
    });
  fw.command("move")
    .description("move a rule by its #id to a position (1 = matched first)")
    .argument("<id>", "rule id (vmctl fw list)", wholeNumber("id", 1, Number.MAX_SAFE_INTEGER))
    .argument("<position>", "new position", wholeNumber("position", 1, 100000))
    .action(async (id, position, _o, self) => {
      const g = self.optsWithGlobals();
      const at = await openStore(g).update(async (data) => {
        const rule = findRule(data, id);
        const rest = (data.firewall ?? []).filter((x) => x.id !== id);
        const i = Math.min(position - 1, rest.length);
        return {
          data: { ...data, firewall: [...rest.slice(0, i), rule, ...rest.slice(i)] },
          result: i + 1,
        };
      });
      deps.stdout(`${g.dryRun ? "would move" : "moved"} rule #${id} to position ${at}; ${APPLY}`);
    });
}
