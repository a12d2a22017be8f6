// A static file server for vmctl image pull tests, run inside a test's network namespace:
//   node image-http-server.mjs DIR PORT LOGFILE
// Serves DIR with ETag, Range and If-Range (what a resumed download needs), logs one JSON line
// per request to LOGFILE, and, while DIR/.cut/NAME exists, sends half of what is asked of NAME and then cuts the
// connection, as a flaky mirror would: as many times as the marker says, then it removes it.
import {
  appendFileSync,
  createReadStream,
  existsSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { join, normalize } from "node:path";

const [dir, port, log] = process.argv.slice(2);

const server = createServer((req, res) => {
  const name = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).slice(1);
  appendFileSync(
    log,
    `${JSON.stringify({ path: `/${name}`, range: req.headers.range ?? null })}\n`,
  );
  const file = join(dir, name);
  if (
    name.startsWith(".") ||
    name.includes("..") ||
    !existsSync(file) ||
    !statSync(file).isFile()
  ) {
    res.writeHead(404).end("not found\n");
    return;
  }
  const { size, mtimeMs } = statSync(file);
  const etag = `"${size}-${Math.floor(mtimeMs)}"`;
  const cut = join(dir, ".cut", name);
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  const ifRange = req.headers["if-range"];
  const start = range && (!ifRange || ifRange === etag) ? Number(range[1]) : 0;
  if (start >= size && start > 0) {
    res.writeHead(416, { "content-range": `bytes */${size}` }).end();
    return;
  }
  const headers = { etag, "content-length": String(size - start), "accept-ranges": "bytes" };
  if (start > 0) {
    res.writeHead(206, { ...headers, "content-range": `bytes ${start}-${size - 1}/${size}` });
  } else {
    res.writeHead(200, headers);
  }
  if (existsSync(cut)) {
    // The marker holds how many more times to cut (empty: once).
    const left = Number(readFileSync(cut, "utf8") || "1") - 1;
    if (left > 0) writeFileSync(cut, String(left));
    else rmSync(cut);
    const end = start + Math.floor((size - start) / 2) - 1;
    const stream = createReadStream(file, { start, end });
    stream.on("end", () => setTimeout(() => res.socket?.destroy(), 50));
    stream.pipe(res, { end: false });
    return;
  }
  createReadStream(file, { start }).pipe(res);
});
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
