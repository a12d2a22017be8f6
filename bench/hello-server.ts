// The baseline: a bare @hono/node-server answering a short text, nothing else.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const port = Number(process.argv[2] ?? 8280);
const app = new Hono();
app.get("*", (c) => c.text("i-0123456789abcdef0"));
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => {
  process.stdout.write("listening\n");
});
