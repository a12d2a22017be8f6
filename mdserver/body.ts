/** The most any request may send: phone_home's form with a few host keys is under 4 KiB. */
export const MAX_BODY = 64 * 1024;

/**
 * Reads a request body up to `limit` bytes, counting while it reads: past the limit it stops
 * and says "too large" without taking in the rest (a 400 MB POST read whole first took the
 * process to 1.25 GB). The caller answers 413 with `Connection: close`, so the server drops the
 * connection instead of reading the rest of the body to reuse it.
 */
export async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Buffer | "too large"> {
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, size);
    size += value.byteLength;
    if (size > limit) {
      reader.releaseLock();
      return "too large";
    }
    chunks.push(value);
  }
}

/** A declared Content-Length over the limit is refused before anything is read. */
export function declaredTooLarge(contentLength: string | undefined, limit: number): boolean {
  return (
    contentLength !== undefined && /^\d+$/.test(contentLength) && Number(contentLength) > limit
  );
}
