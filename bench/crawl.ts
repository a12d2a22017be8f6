import { type Agent, request } from "node:http";

/** One HTTP request from a given local address; resolves with status and body. */
export function fetchFrom(
  agent: Agent,
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, agent, headers, timeout: 10_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * The requests cloud-init's EC2 datasource makes on an AWS-identified guest (docs/cloud-init.md):
 * token PUT, version probe, user-data, a recursive meta-data crawl (sub-directories first, then
 * leaves, keys via N/openssh-key), then the identity document. Throws on any non-200.
 * Returns the number of requests and the identity the crawl was given.
 */
export async function cloudInitCrawl(
  agent: Agent,
  port: number,
): Promise<{ requests: number; instanceId: string; hostname: string; documentId: string }> {
  let n = 0;
  const seen = new Map<string, string>();
  const get = async (path: string, headers: Record<string, string>, method = "GET") => {
    n++;
    const r = await fetchFrom(agent, port, path, headers, method);
    if (r.status !== 200 && !(path.endsWith("/user-data") && r.status === 404)) {
      throw new Error(`${method} ${path}: ${r.status}`);
    }
    return r.body;
  };
  const token = await get(
    "/latest/api/token",
    { "X-aws-ec2-metadata-token-ttl-seconds": "21600" },
    "PUT",
  );
  const h = { "X-aws-ec2-metadata-token": token };
  await get("/2021-03-23/meta-data/instance-id", h);
  await get("/2021-03-23/user-data", h);
  const walk = async (base: string): Promise<void> => {
    const lines = (await get(base, h)).split("\n").filter(Boolean);
    const dirs = lines.filter((l) => l.endsWith("/") || l.includes("="));
    for (const d of dirs) await walk(`${base}${d.includes("=") ? `${d.split("=")[0]}/` : d}`);
    for (const leaf of lines.filter((l) => !dirs.includes(l))) {
      seen.set(`${base}${leaf}`, await get(`${base}${leaf}`, h));
    }
  };
  await walk("/2021-03-23/meta-data/");
  await get("/2021-03-23/dynamic/instance-identity", h);
  const doc = JSON.parse(await get("/2021-03-23/dynamic/instance-identity/document", h)) as {
    instanceId: string;
  };
  return {
    requests: n,
    instanceId: seen.get("/2021-03-23/meta-data/instance-id") ?? "",
    hostname: seen.get("/2021-03-23/meta-data/local-hostname") ?? "",
    documentId: doc.instanceId,
  };
}
