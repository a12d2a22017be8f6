import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createIpGroup } from "../../vmctl/net/ip-groups.js";
import { EMPTY_STORE, type StoreData } from "../../vmctl/net/model.js";
import {
  parseTable,
  ruleComment,
  type TableState,
  wantedStructure,
} from "../../vmctl/net/nft-table.js";
import {
  addRule,
  allGroups,
  attachGroup,
  createGroup,
  deleteGroup,
  deleteRule,
  detachGroup,
} from "../../vmctl/net/security-groups.js";
import { planSgNft, sgDesired, sgLayout } from "../../vmctl/net/sg-nft.js";
import { sgSpec } from "../../vmctl/net/sg-rules.js";

const net = {
  name: "net1",
  subnet: "10.10.10.0/24",
  gateway: "10.10.10.1",
  bridgeIp: "10.10.10.2",
  table: 101,
  rulePref: 1000,
  bridge: "br-net1",
  mac: "02:00:00:00:00:01",
};
const port = (ip: string, host: string, dev: string, groups?: string[]) => ({
  network: "net1",
  host,
  ip,
  dev,
  mac: `52:54:00:00:00:${ip.split(".")[3]}`,
  ...(groups ? { groups } : {}),
});

function store(): StoreData {
  let d: StoreData = { ...structuredClone(EMPTY_STORE), networks: [net] };
  d = createIpGroup(d, "office", ["198.51.100.0/24", "203.0.113.7"]);
  d = createGroup(d, "web");
  d = addRule(d, "web", { direction: "ingress", proto: "tcp", port: "80", peer: "ipg:office" });
  d = createGroup(d, "app");
  d = addRule(d, "app", { direction: "ingress", proto: "tcp", port: "22", peer: "sg:web" });
  return {
    ...d,
    ports: [port("10.10.10.11", "host1", "vm11", ["web"]), port("10.10.10.21", "host2", "vm21")],
  };
}

/** The table as the reader would give it back for what `d` wants (elements included). */
function asApplied(d: StoreData, host: string): TableState {
  const want = sgDesired(d, host);
  if (!want) throw new Error("no table");
  const spec = sgSpec(want.layout);
  return {
    structure: wantedStructure(spec),
    rules: new Set(spec.chains.flatMap((c) => c.rules.map((r) => ruleComment(c.name, r)))),
    elements: { ...want.elements, tcp_in: ['"vm11" . 10.0.0.1 . 10.10.10.11 . 80 . 40000'] },
  };
}

describe("security groups in the store", () => {
  it("gives each network a default group: ingress from itself, all egress", () => {
    const d = store();
    expect(allGroups(d).map((g) => g.name)).toEqual(["app", "default-net1", "web"]);
    expect(allGroups(d)[1]?.rules).toEqual([
      { direction: "ingress", proto: "any", peer: "sg:default-net1" },
      { direction: "egress", proto: "any", peer: "0.0.0.0/0" },
    ]);
  });

  it("refuses duplicate, overlapping and contradictory rules, bad ports and unknown peers", () => {
    const d = store();
    const rule =
      (port: string | undefined, proto = "tcp", peer = "ipg:office") =>
      () =>
        addRule(d, "web", {
          direction: "ingress",
          proto,
          ...(port !== undefined ? { port } : {}),
          peer,
        });
    expect(rule("80")).toThrow(
      "already has the rule --ingress --proto tcp --port 80 --from ipg:office",
    );
    expect(rule("70-90")).toThrow("overlaps web's rule");
    expect(rule(undefined, "any")).toThrow("overlaps");
    expect(rule("0")).toThrow("--port 0: give a port 1-65535");
    expect(rule("65536")).toThrow("--port 65536");
    expect(rule("90-80")).toThrow("--port 90-80");
    expect(rule(undefined, "icmp", "sg:nope")).toThrow("no security group named nope");
    expect(rule(undefined, "icmp", "ipg:nope")).toThrow("no IP group named nope");
    expect(rule(undefined, "icmp", "10.0.0.1/8")).toThrow("--from 10.0.0.1/8 has host bits set");
    expect(rule("5", "icmp", "10.0.0.0/8")).toThrow("--port applies to tcp and udp only");
    expect(rule(undefined, "sctp")).toThrow("--proto sctp: use tcp, udp, icmp or any");
    // The same ports from another peer do not overlap.
    expect(rule("80", "tcp", "10.0.0.0/8")).not.toThrow();
  });

  it("refuses to delete a group in use, a default group, and an unknown rule", () => {
    const d = store();
    expect(() => deleteGroup(d, "web")).toThrow(
      "security group web is used by port net1:10.10.10.11",
    );
    expect(() => deleteGroup(d, "default-net1")).toThrow("network net1's default group");
    expect(() => createGroup(d, "default-x")).toThrow('starting with "default-"');
    expect(() =>
      deleteRule(d, "web", { direction: "ingress", proto: "udp", port: "80", peer: "ipg:office" }),
    ).toThrow("web has no rule --ingress --proto udp --port 80 --from ipg:office");
  });

  it("attaches and detaches by NETWORK:IP, keeping at least one group", () => {
    const d = attachGroup(store(), "net1:10.10.10.21", "web");
    expect(d.ports[1]?.groups).toEqual(["default-net1", "web"]);
    expect(detachGroup(d, "vm21", "default-net1").ports[1]?.groups).toEqual(["web"]);
    expect(() => detachGroup(store(), "vm11", "web")).toThrow("only security group");
    expect(() => attachGroup(store(), "vm11", "web")).toThrow("already in security group web");
  });
});

describe("security group nft plan", () => {
  it("reads back the table it writes from nft's JSON listing, flow state left out", () => {
    // Captured from nft 1.0.6 after applying the plan for store() on host1, plus one TCP flow.
    const text = readFileSync(
      join(import.meta.dirname, "../fixtures/sg/nft-list-host1.json"),
      "utf8",
    );
    const d = store();
    const spec = sgSpec(sgLayout(d));
    const listed = parseTable(text, spec);
    expect(listed.structure).toEqual(wantedStructure(spec));
    expect(listed.elements.i_office).toEqual(["198.51.100.0/24", "203.0.113.7"]);
    expect(listed.elements.p_web).toEqual(['"vm11"']);
    expect(listed.elements.tcp_in).toEqual([]);
    expect(planSgNft(sgDesired(d, "host1"), listed)).toBeUndefined();
  });

  it("builds the whole table with its elements on a host that has none", () => {
    const input = planSgNft(sgDesired(store(), "host1"), undefined) ?? "";
    expect(input).toContain("table bridge vmctl_sg {");
    expect(input).toContain(
      "oifname @p_web ip saddr @i_office tcp dport 80 goto ingress_new comment",
    );
    expect(input).toContain('add element bridge vmctl_sg p_web { "vm11" }');
    expect(input).toContain("add element bridge vmctl_sg a_web { 10.10.10.11 }");
    expect(input).toContain(
      "add element bridge vmctl_sg i_office { 198.51.100.0/24, 203.0.113.7 }",
    );
    expect(input).not.toContain("delete");
  });

  it("changes nothing when the host already matches", () => {
    const d = store();
    expect(planSgNft(sgDesired(d, "host1"), asApplied(d, "host1"))).toBeUndefined();
  });

  it("applies a membership change on another host as element updates only", () => {
    const d = store();
    const cur = asApplied(d, "host1");
    const next = attachGroup(d, "net1:10.10.10.21", "web");
    expect(planSgNft(sgDesired(next, "host1"), cur)).toBe(
      "add element bridge vmctl_sg a_web { 10.10.10.21 }\n",
    );
  });

  it("rewrites the rules for a rule change but keeps the flow sets and unchanged sets", () => {
    const d = store();
    const cur = asApplied(d, "host1");
    const next = addRule(d, "web", {
      direction: "ingress",
      proto: "udp",
      port: "53",
      peer: "10.0.0.0/8",
    });
    const input = planSgNft(sgDesired(next, "host1"), cur) ?? "";
    expect(input).toContain("flush chain bridge vmctl_sg ingress\n");
    expect(input).toContain("delete chain bridge vmctl_sg ingress\n");
    expect(input).not.toMatch(/delete set/);
    expect(input).not.toMatch(/add element/);
    expect(input).toContain("oifname @p_web ip saddr 10.0.0.0/8 udp dport 53 goto ingress_new");
  });

  it("removes the table from a host without networks", () => {
    const d = store();
    const cur = asApplied(d, "host1");
    expect(planSgNft(sgDesired({ ...d, networks: [] }, "host1"), cur)).toBe(
      "delete table bridge vmctl_sg\n",
    );
  });
});
