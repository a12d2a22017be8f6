import { describe, expect, it } from "vitest";
import { batchedWriter, FLUSH_BYTES, FLUSH_MS, jsonLogger } from "../../mdserver/log.js";

describe("jsonLogger", () => {
  it("writes one JSON object per line with time, level, message and fields", () => {
    const lines: string[] = [];
    const log = jsonLogger((l) => lines.push(l));
    log.log("info", "request", { path: '/a"b', status: 200 });
    log.log("debug", "hidden");
    log.log("warn", "no fields");
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith("}\n"))).toBe(true);
    const first = JSON.parse(lines[0] as string);
    expect(first).toMatchObject({ level: "info", msg: "request", path: '/a"b', status: 200 });
    expect(Date.parse(first.time)).not.toBeNaN();
    expect(JSON.parse(lines[1] as string)).toMatchObject({ level: "warn", msg: "no fields" });
  });

  it("batches lines into one write per FLUSH_MS, sooner at FLUSH_BYTES", async () => {
    const writes: string[] = [];
    const out = batchedWriter((chunk) => writes.push(chunk));
    out.write("a\n");
    await new Promise((r) => setImmediate(r));
    out.write("b\n");
    expect(writes).toEqual([]);
    await new Promise((r) => setTimeout(r, FLUSH_MS + 20));
    expect(writes).toEqual(["a\nb\n"]);
    out.write("c\n");
    out.flush();
    expect(writes).toEqual(["a\nb\n", "c\n"]);
    out.write("x".repeat(FLUSH_BYTES));
    expect(writes).toHaveLength(3);
    out.flush();
    expect(writes).toHaveLength(3);
  });
});

describe("the request line", () => {
  it("is the line log() writes for the same fields, also for names and paths needing quotes", () => {
    const a: string[] = [];
    const b: string[] = [];
    const fields = {
      client: "10.0.0.5",
      instance: 'we"b\\1',
      method: "GET",
      path: '/latest/"\n\u0001',
      status: 404,
      token: true,
      ms: 0.125,
    };
    jsonLogger((l) => a.push(l)).request(fields);
    jsonLogger((l) => b.push(l)).log("info", "request", fields);
    jsonLogger((l) => a.push(l)).request({ ...fields, instance: undefined });
    jsonLogger((l) => b.push(l)).log("info", "request", { ...fields, instance: null });
    const strip = (l: string) => l.replace(/"time":"[^"]+"/, "");
    expect(a.map(strip)).toEqual(b.map(strip));
    expect(JSON.parse(a[0] as string)).toMatchObject({ instance: 'we"b\\1', path: fields.path });
  });

  it("is left out below level info", () => {
    const a: string[] = [];
    jsonLogger((l) => a.push(l), "warn").request({
      client: "x",
      instance: undefined,
      method: "GET",
      path: "/",
      status: 200,
      token: false,
      ms: 1,
    });
    expect(a).toEqual([]);
  });
});
