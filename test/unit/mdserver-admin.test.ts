import { describe, expect, it } from "vitest";
import { adminViews, createAdminApp, type ReloadState } from "../../mdserver/admin.js";
import { parseMdserverConfig } from "../../mdserver/config/mdserver-config.js";
import { Inventory } from "../../mdserver/inventory/inventory.js";
import {
  escapeLabel,
  formatMetrics,
  LATENCY_BUCKETS,
  RequestMetrics,
} from "../../mdserver/metrics.js";
import { formatStatus, type StatusReport } from "../../mdserver/status.js";
import { instance, testApp } from "../helpers/app-fixture.js";

describe("request metrics", () => {
  it("counts by instance and status and puts each latency in its bucket", () => {
    const m = new RequestMetrics();
    m.observe("web1", 200, 0.0003);
    m.observe("web1", 200, 0.002);
    m.observe("web1", 404, 0.00005);
    m.observe("", 404, 5);
    const text = formatMetrics({
      requests: m,
      instances: { libvirt: 1, file: 2 },
      conflicts: 0,
      libvirt: { streamRestarts: 3, events: 7, lastEventSeconds: 1700000000.5 },
      reloads: { ok: 1, refused: 2 },
      startSeconds: 1690000000,
    });
    const lines = text.split("\n");
    expect(lines).toContain('mdserver_requests_total{vm="",status="404"} 1');
    expect(lines).toContain('mdserver_requests_total{vm="web1",status="200"} 2');
    expect(lines).toContain('mdserver_requests_total{vm="web1",status="404"} 1');
    expect(lines).toContain('mdserver_responses_total{status="200"} 2');
    expect(lines).toContain('mdserver_responses_total{status="404"} 2');
    // Cumulative: 0.00005 <= 0.0001; 0.0003 <= 0.0005; 0.002 <= 0.0025; 5 only in +Inf.
    expect(lines).toContain('mdserver_request_duration_seconds_bucket{le="0.0001"} 1');
    expect(lines).toContain('mdserver_request_duration_seconds_bucket{le="0.00025"} 1');
    expect(lines).toContain('mdserver_request_duration_seconds_bucket{le="0.0005"} 2');
    expect(lines).toContain('mdserver_request_duration_seconds_bucket{le="0.0025"} 3');
    expect(lines).toContain('mdserver_request_duration_seconds_bucket{le="1"} 3');
    expect(lines).toContain('mdserver_request_duration_seconds_bucket{le="+Inf"} 4');
    expect(lines).toContain("mdserver_request_duration_seconds_count 4");
    expect(lines).toContain('mdserver_instances{source="libvirt"} 1');
    expect(lines).toContain('mdserver_instances{source="file"} 2');
    expect(lines).toContain("mdserver_libvirt_stream_restarts_total 3");
    expect(lines).toContain("mdserver_libvirt_last_event_timestamp_seconds 1700000000.5");
    expect(lines).toContain('mdserver_reloads_total{result="refused"} 2');
    expect(text.endsWith("\n")).toBe(true);
  });

  it("declares each family once, with HELP and TYPE before its samples", () => {
    const text = formatMetrics({
      requests: new RequestMetrics(),
      instances: {},
      conflicts: 0,
      libvirt: { streamRestarts: 0, events: 0, lastEventSeconds: undefined },
      reloads: { ok: 0, refused: 0 },
      startSeconds: 0,
    });
    const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(types).size).toBe(types.length);
    for (const l of text.split("\n").filter((x) => x && !x.startsWith("#"))) {
      const name = (l.split(/[{ ]/)[0] as string).replace(/_(bucket|sum|count)$/, "");
      expect(
        types.some((t) => t.startsWith(`# TYPE ${name} `)),
        l,
      ).toBe(true);
    }
    expect(text).not.toContain("last_event_timestamp");
    expect(types).toHaveLength(9);
    expect(LATENCY_BUCKETS).toEqual([...LATENCY_BUCKETS].sort((a, b) => a - b));
  });

  it("escapes label values as the text format requires", () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it("is what the guest-facing app records per request", async () => {
    const metrics = new RequestMetrics();
    const t = testApp({ metrics });
    await t.req("/latest/meta-data/instance-id");
    await t.req("/latest/meta-data/nope");
    await t.req("/latest/meta-data/instance-id", { from: "10.9.9.9" });
    expect(metrics.byVm.get("web1")).toEqual(
      new Map([
        [200, 1],
        [404, 1],
      ]),
    );
    expect(metrics.byVm.get("")).toEqual(new Map([[404, 1]]));
    expect(metrics.count).toBe(3);
  });

  it("is not served to guests: /metrics and /status are 404 on the metadata listener", async () => {
    const t = testApp();
    expect((await t.req("/metrics")).status).toBe(404);
    expect((await t.req("/status")).status).toBe(404);
  });
});

describe("admin endpoint", () => {
  const inventory = new Inventory();
  inventory.upsert(instance({ name: "lv1", source: "libvirt", addresses: ["10.0.0.7"] }));
  inventory.upsert(instance({ name: "web1" }));
  inventory.upsert(instance({ name: "web2", addresses: ["10.0.0.5"] }));
  const reload: ReloadState = {
    ok: 1,
    refused: 0,
    last: { time: "2026-12-04T10:00:00.000Z", result: "ok" },
  };
  const config = parseMdserverConfig("/etc/mdserver/mdserver.conf", "[mdserver]\nlibvirt = no\n");
  const app = createAdminApp(
    adminViews({
      configPath: "/etc/mdserver/mdserver.conf",
      config: () => config,
      inventory,
      libvirt: undefined,
      reload,
      requests: new RequestMetrics(),
      started: new Date("2026-12-04T09:00:00Z"),
    }),
  );

  it("reports instances by source, conflicts and the last reload as JSON", async () => {
    const res = await app.request("/status");
    expect(res.status).toBe(200);
    const s = (await res.json()) as StatusReport;
    expect(s).toMatchObject({
      config: "/etc/mdserver/mdserver.conf",
      started: "2026-12-04T09:00:00.000Z",
      instances: { total: 3, bySource: { libvirt: 1, file: 2 }, conflicts: ["10.0.0.5"] },
      libvirt: null,
      reload: { ok: 1, refused: 0, last: { result: "ok" } },
    });
    expect(s.instances.list.map((i) => `${i.source}:${i.name}`)).toEqual([
      "libvirt:lv1",
      "file:web1",
      "file:web2",
    ]);
  });

  it("serves Prometheus text on /metrics and 404 elsewhere", async () => {
    const res = await app.request("/metrics");
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await res.text()).toContain("mdserver_address_conflicts 1\n");
    expect((await app.request("/latest/meta-data/")).status).toBe(404);
  });

  it("defaults its socket to <state-dir>/admin.sock; off turns it off", () => {
    const c = (t: string) => parseMdserverConfig("f", `[mdserver]\n${t}\n`).adminSocket;
    expect(c("")).toBe("/var/lib/mdserver/admin.sock");
    expect(c("state-dir = /srv/md/")).toBe("/srv/md/admin.sock");
    expect(c("state-dir =")).toBe(undefined);
    expect(c("admin-socket = /run/mdserver/admin.sock")).toBe("/run/mdserver/admin.sock");
    expect(c("admin-socket = off")).toBe(undefined);
  });
});

describe("mdserver --status output", () => {
  const report: StatusReport = {
    pid: 42,
    started: "2026-12-04T09:00:00.000Z",
    config: "/etc/mdserver/mdserver.conf",
    listen: { addresses: ["169.254.169.254", "fd00:ec2::254"], port: 80 },
    instances: {
      total: 2,
      bySource: { libvirt: 1, file: 1 },
      list: [
        { source: "libvirt", name: "web1", instanceId: "i-0123", addresses: ["10.0.0.5"] },
        { source: "file", name: "db", instanceId: "i-4567", addresses: ["10.0.0.6", "fd00::6"] },
      ],
      conflicts: [],
    },
    libvirt: {
      uri: null,
      events: 3,
      lastEvent: {
        time: "2026-12-04T09:01:00.000Z",
        domain: "web1",
        kind: "lifecycle",
        detail: "Started Booted",
      },
      streamRestarts: 1,
      lastReconcile: { time: "2026-12-04T09:02:00.000Z", ok: true },
    },
    reload: { ok: 0, refused: 1, last: { time: "T", result: "refused", error: "f: bad" } },
    requests: 9,
  };

  it("prints one fact a line and the instances as a table", () => {
    expect(formatStatus(report)).toBe(`config:     /etc/mdserver/mdserver.conf
pid:        42, started 2026-12-04T09:00:00.000Z
listening:  169.254.169.254, [fd00:ec2::254] port 80
requests:   9
instances:  2 (libvirt 1, instances-file 1)
libvirt:    virsh's default URI
  last event:     2026-12-04T09:01:00.000Z lifecycle web1: Started Booted (3 events)
  stream restarts: 1
  last full read: 2026-12-04T09:02:00.000Z ok
last reload: T refused: f: bad (0 ok, 1 refused)
SOURCE   NAME  INSTANCE-ID  ADDRESSES
libvirt  web1  i-0123       10.0.0.5
file     db    i-4567       10.0.0.6,fd00::6
`);
  });

  it("says when libvirt is off and nothing was reloaded", () => {
    const text = formatStatus({
      ...report,
      libvirt: null,
      reload: { ok: 0, refused: 0, last: null },
      instances: { ...report.instances, conflicts: ["10.0.0.9"] },
    });
    expect(text).toContain("libvirt:    off\n");
    expect(text).toContain("last reload: none since start (0 ok, 0 refused)\n");
    expect(text).toContain(
      "conflicts:  10.0.0.9 (claimed by more than one instance; served to none)\n",
    );
  });
});
