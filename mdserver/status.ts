import { request } from "node:http";
import { AppError } from "../lib/errors.js";
import type { LibvirtStats } from "./inventory/libvirt-source.js";

/** What the admin endpoint's `GET /status` answers (JSON) and `mdserver --status` prints. */
export interface StatusReport {
  pid: number;
  started: string;
  config: string;
  listen: { addresses: string[]; port: number };
  instances: {
    total: number;
    bySource: Record<string, number>;
    list: { source: string; name: string; instanceId: string; addresses: string[] }[];
    conflicts: string[];
  };
  libvirt: ({ uri: string | null } & LibvirtStats) | null;
  reload: {
    ok: number;
    refused: number;
    last: { time: string; result: "ok" | "refused"; error?: string } | null;
  };
  requests: number;
}

/** The human form of a StatusReport: one fact a line, instances as a table. */
export function formatStatus(s: StatusReport): string {
  const lines: string[] = [];
  const by = Object.entries(s.instances.bySource)
    .map(([k, n]) => `${k === "file" ? "instances-file" : k} ${n}`)
    .join(", ");
  lines.push(`config:     ${s.config}`);
  lines.push(`pid:        ${s.pid}, started ${s.started}`);
  lines.push(
    `listening:  ${s.listen.addresses.map((a) => (a.includes(":") ? `[${a}]` : a)).join(", ")} port ${s.listen.port}`,
  );
  lines.push(`requests:   ${s.requests}`);
  lines.push(`instances:  ${s.instances.total} (${by})`);
  if (s.instances.conflicts.length) {
    lines.push(
      `conflicts:  ${s.instances.conflicts.join(", ")} (claimed by more than one instance; served to none)`,
    );
  }
  if (s.libvirt) {
    const l = s.libvirt;
    lines.push(`libvirt:    ${l.uri ?? "virsh's default URI"}`);
    lines.push(
      `  last event:     ${l.lastEvent ? `${l.lastEvent.time} ${l.lastEvent.kind} ${l.lastEvent.domain}${l.lastEvent.detail ? `: ${l.lastEvent.detail}` : ""}` : "none yet"} (${l.events} events)`,
    );
    lines.push(`  stream restarts: ${l.streamRestarts}`);
    const r = l.lastReconcile;
    lines.push(
      `  last full read: ${r ? `${r.time} ${r.ok ? "ok" : `failed: ${r.error ?? ""}`}` : "not yet"}`,
    );
  } else {
    lines.push("libvirt:    off");
  }
  const last = s.reload.last;
  lines.push(
    `last reload: ${last ? `${last.time} ${last.result}${last.error ? `: ${last.error}` : ""}` : "none since start"} (${s.reload.ok} ok, ${s.reload.refused} refused)`,
  );
  if (s.instances.list.length) {
    const rows = s.instances.list.map((i) => [
      i.source === "file" ? "file" : i.source,
      i.name,
      i.instanceId,
      i.addresses.join(","),
    ]);
    const head = ["SOURCE", "NAME", "INSTANCE-ID", "ADDRESSES"];
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
    for (const r of [head, ...rows]) {
      lines.push(
        r
          .map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c] as number)))
          .join("  ")
          .trimEnd(),
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/** GET `path` on the admin socket; the body, or an AppError saying what to do. */
export function fetchAdmin(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(body)
          : reject(new AppError("ADMIN", `${socketPath}: ${path} answered ${res.statusCode}`)),
      );
    });
    req.on("timeout", () => req.destroy(new Error("no answer in 5 s")));
    req.on("error", (err: NodeJS.ErrnoException) => {
      const why =
        err.code === "ENOENT" || err.code === "ECONNREFUSED"
          ? "no mdserver is running with this configuration (is it started? systemctl status mdserver)"
          : err.code === "EACCES"
            ? "permission denied (run as root or as a member of the mdserver group)"
            : err.message;
      reject(new AppError("ADMIN", `cannot reach ${socketPath}: ${why}`));
    });
    req.end();
  });
}
