/**
 * Counters for the admin endpoint's `GET /metrics` (Prometheus text format 0.0.4). Only the
 * admin socket serves them: the guest-facing listener must not tell one VM about the others.
 * Request accounting runs on every request, so it is a few Map updates and a bucket search.
 */

/** Upper bounds of the latency histogram, in seconds (a saturated host sits at 1-10 ms). */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1];

export class RequestMetrics {
  /** vm name ("" = an address no instance claims) -> status -> count. */
  readonly byVm = new Map<string, Map<number, number>>();
  /** Per bucket (non-cumulative; the last slot is +Inf). */
  readonly buckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  sumSeconds = 0;
  count = 0;

  observe(vm: string, status: number, seconds: number): void {
    let statuses = this.byVm.get(vm);
    if (!statuses) {
      statuses = new Map();
      this.byVm.set(vm, statuses);
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] as number) + 1;
    this.sumSeconds += seconds;
    this.count++;
  }
}

/** Everything /metrics shows besides the request counters; read when scraped. */
export interface MetricsSnapshot {
  requests: RequestMetrics;
  instances: Record<string, number>;
  conflicts: number;
  libvirt: { streamRestarts: number; events: number; lastEventSeconds: number | undefined };
  reloads: { ok: number; refused: number };
  startSeconds: number;
}

/** Prometheus's text exposition: label values escape backslash, quote and newline. */
export function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

export function formatMetrics(m: MetricsSnapshot): string {
  const out: string[] = [];
  family(
    out,
    "mdserver_requests_total",
    "counter",
    'Requests answered, by instance (vm="" is an address no instance claims) and HTTP status.',
  );
  const byStatus = new Map<number, number>();
  for (const vm of [...m.requests.byVm.keys()].sort()) {
    const statuses = m.requests.byVm.get(vm) as Map<number, number>;
    for (const status of [...statuses.keys()].sort((a, b) => a - b)) {
      const n = statuses.get(status) as number;
      byStatus.set(status, (byStatus.get(status) ?? 0) + n);
      out.push(`mdserver_requests_total{vm="${escapeLabel(vm)}",status="${status}"} ${n}`);
    }
  }
  family(out, "mdserver_responses_total", "counter", "Requests answered, by HTTP status.");
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    out.push(`mdserver_responses_total{status="${status}"} ${byStatus.get(status)}`);
  }
  family(
    out,
    "mdserver_request_duration_seconds",
    "histogram",
    "Time from the request's arrival in the handler to its response.",
  );
  let cumulative = 0;
  LATENCY_BUCKETS.forEach((le, i) => {
    cumulative += m.requests.buckets[i] as number;
    out.push(`mdserver_request_duration_seconds_bucket{le="${le}"} ${cumulative}`);
  });
  out.push(`mdserver_request_duration_seconds_bucket{le="+Inf"} ${m.requests.count}`);
  out.push(`mdserver_request_duration_seconds_sum ${m.requests.sumSeconds}`);
  out.push(`mdserver_request_duration_seconds_count ${m.requests.count}`);
  family(out, "mdserver_instances", "gauge", "Instances in the inventory, by source.");
  for (const [source, n] of Object.entries(m.instances)) {
    out.push(`mdserver_instances{source="${escapeLabel(source)}"} ${n}`);
  }
  family(
    out,
    "mdserver_address_conflicts",
    "gauge",
    "Addresses claimed by more than one instance (served to none).",
  );
  out.push(`mdserver_address_conflicts ${m.conflicts}`);
  family(
    out,
    "mdserver_libvirt_stream_restarts_total",
    "counter",
    "Times libvirt's event stream ended and was started again.",
  );
  out.push(`mdserver_libvirt_stream_restarts_total ${m.libvirt.streamRestarts}`);
  family(out, "mdserver_libvirt_events_total", "counter", "Domain events read from libvirt.");
  out.push(`mdserver_libvirt_events_total ${m.libvirt.events}`);
  if (m.libvirt.lastEventSeconds !== undefined) {
    family(
      out,
      "mdserver_libvirt_last_event_timestamp_seconds",
      "gauge",
      "Unix time of the last domain event read from libvirt.",
    );
    out.push(`mdserver_libvirt_last_event_timestamp_seconds ${m.libvirt.lastEventSeconds}`);
  }
  family(out, "mdserver_reloads_total", "counter", "SIGHUP reloads, by result.");
  out.push(`mdserver_reloads_total{result="ok"} ${m.reloads.ok}`);
  out.push(`mdserver_reloads_total{result="refused"} ${m.reloads.refused}`);
  family(out, "mdserver_start_time_seconds", "gauge", "Unix time mdserver started.");
  out.push(`mdserver_start_time_seconds ${m.startSeconds}`);
  return `${out.join("\n")}\n`;
}
