import { describe, expect, it } from "vitest";
import { declaredTooLarge, readBounded } from "../../mdserver/body.js";

/** An endless body of 16 KiB chunks that counts how many chunks were pulled from it. */
function endless() {
  const pulled = { chunks: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(ctrl: ReadableStreamDefaultController<Uint8Array>) {
        pulled.chunks++;
        ctrl.enqueue(new Uint8Array(16 * 1024));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled };
}

describe("bounded request bodies", () => {
  it("reads a body up to the limit whole", async () => {
    const body = new Response("a=1&b=2").body;
    expect((await readBounded(body, 7))?.toString()).toBe("a=1&b=2");
    expect(await readBounded(null, 7)).toEqual(Buffer.alloc(0));
  });

  it("stops reading an endless body right after the limit", async () => {
    const { stream, pulled } = endless();
    expect(await readBounded(stream, 64 * 1024)).toBe("too large");
    expect(pulled.chunks).toBeLessThanOrEqual(6);
  });

  it("refuses a declared Content-Length over the limit", () => {
    expect(declaredTooLarge("65537", 65536)).toBe(true);
    expect(declaredTooLarge("65536", 65536)).toBe(false);
    expect(declaredTooLarge(undefined, 65536)).toBe(false);
  });
});
