import type { Topology } from "./topology.js";

/** One fill colour per network, the same in every host (light, so black text stays readable). */
const PALETTE = ["#cfe8ff", "#d7f5d0", "#ffe3c4", "#ead9ff", "#fff5b8", "#ffd6e0", "#d0f0f0"];

/** A DOT string literal: graphviz reads `\n` as a centred line break inside one. */
const q = (s: string) => `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
const label = (...lines: string[]) => q(lines.join("\n")).replaceAll("\n", "\\n");

/**
 * Pure: the topology as a graphviz digraph, top to bottom: the uplink, the router with its
 * gateways, one box per host (its LAN address, a node per network bridge, the VMs and ports on
 * it), LAN edges labelled with the /32s the router sends to that host.
 */
export function topologyDot(t: Topology): string[] {
  const networks = t.routers[0]?.gateways ?? [];
  const color = new Map(networks.map((g, i) => [g.network, PALETTE[i % PALETTE.length]]));
  const out = [
    "digraph vmctl {",
    '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.55, newrank=true, ordering=out];',
    '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", fillcolor=white];',
    '  edge [fontname="Helvetica", fontsize=9, arrowhead=none];',
  ];
  const rid = (r: { name: string }) => q(`router/${r.name}`);
  for (const r of t.routers) {
    const up = q(`uplink/${r.name}`);
    out.push(
      `  ${up} [label=${label(`uplink ${r.uplink}`, "NAT to the outside")}, shape=ellipse, fillcolor="#eeeeee"];`,
      `  ${rid(r)} [label=${label(
        `router ${r.name}`,
        `${r.address} (${r.lan}), site ${r.site}`,
        `routing ${t.routing}`,
        ...r.gateways.map((g) => `${g.network} gateway ${g.gateway}`),
      )}, fillcolor="#ffd9a8", penwidth=1.5];`,
      `  ${up} -> ${rid(r)};`,
    );
  }
  for (const h of t.hosts) {
    const id = (s: string) => q(`${h.name}/${s}`);
    out.push(`  subgraph ${q(`cluster_${h.name}`)} {`);
    out.push(
      `    label=${label(`host ${h.name} [${h.target}], site ${h.site}`, `libvirt ${h.libvirt}`)}; style="rounded"; color="#888888"; labeljust=l;`,
    );
    out.push(
      `    ${id("lan")} [label=${label(`${h.lan} ${h.address}`)}, shape=box, style="filled", fillcolor="#f2f2f2"];`,
    );
    for (const b of h.bridges) {
      const fill = color.get(b.network) ?? "#ffffff";
      out.push(
        `    ${id(b.bridge)} [label=${label(`${b.bridge}`, `${b.network} ${b.subnet}`, `${b.bridgeIp}, table ${b.table}`)}, fillcolor=${q(fill)}];`,
      );
      out.push(`    ${id("lan")} -> ${id(b.bridge)} [color="#999999"];`);
      for (const p of h.ports.filter((x) => x.network === b.network)) {
        const title = p.vm ? `${p.vm}` : `port ${p.dev}`;
        const state = p.vm ? (p.state ?? "") : "no VM";
        const dim =
          p.vm && p.state !== "running"
            ? ', fontcolor="#666666", style="rounded,filled,dashed"'
            : "";
        out.push(
          `    ${id(`port/${p.ip}`)} [label=${label(title, p.ip, state)}, fillcolor=${q(fill)}${dim}];`,
        );
        out.push(`    ${id(b.bridge)} -> ${id(`port/${p.ip}`)} [label=${q(p.dev)}];`);
      }
    }
    for (const v of h.unplugged) {
      out.push(
        `    ${id(`vm/${v.name}`)} [label=${label(v.name, `${v.state}, no port`)}, style="rounded,dashed"];`,
      );
      // Invisible: it only places the VM on the VMs' rank, below the bridges.
      out.push(`    ${id("lan")} -> ${id(`vm/${v.name}`)} [style=invis, minlen=2];`);
    }
    out.push("  }");
    // Each router of the host's site: the /32s it sends there (static) or learns by BGP.
    for (const r of t.routers.filter((x) => x.site === h.site)) {
      const routes = r.routes.filter((x) => x.host === h.name).map((x) => x.dst);
      const shown =
        routes.length > 6 ? [...routes.slice(0, 5), `… ${routes.length - 5} more`] : routes;
      const how = t.routing === "bgp" ? "BGP" : "static";
      const count = `${how}: ${routes.length} VM route${routes.length === 1 ? "" : "s"}`;
      out.push(`  ${rid(r)} -> ${id("lan")} [label=${label(count, ...shown)}];`);
    }
  }
  out.push("}");
  return out;
}
