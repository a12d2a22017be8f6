import { describe, expect, it } from "vitest";
import { batchedWriter, jsonLogger } from "../../mdserver/log.js";

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

  it("batches the lines of one event-loop turn into one write", async () => {
    const writes: string[] = [];
    const out = batchedWriter((chunk) => writes.push(chunk));
    out.write("a\n");
    out.write("b\n");
    await new Promise((r) => setImmediate(r));
    out.write("c\n");
    out.flush();
    expect(writes).toEqual(["a\nb\n", "c\n"]);
  });
});
