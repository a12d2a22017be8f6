import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inNsAsync, MdNetwork } from "../helpers/md-netns.js";
import { MdserverProcess, runMdserver } from "../helpers/mdserver-process.js";

const net = new MdNetwork();
const dir = mkdtempSync(join(tmpdir(), "mdserver-proc-"));
const conf = join(dir, "mdserver.conf");
const instances = join(dir, "instances.yaml");
let vm = "";

async function get(
  path: string,
  headers: string[] = [],
  method = "GET",
): Promise<[number, string]> {
  const h = headers.flatMap((x) => ["-H", x]);
  const out = await inNsAsync(vm, "curl", [
    "-s",
    "-m",
    "3",
    "-X",
    method,
    ...h,
    "-w",
    "\n%{http_code}",
    `http://169.254.169.254${path}`,
  ]);
  const i = out.lastIndexOf("\n");
  return [Number(out.slice(i + 1)), out.slice(0, i)];
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  net.create();
  vm = net.addVm("10.10.10.31");
});

afterAll(() => {
  net.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe("mdserver refuses bad configuration at start with one line", () => {
  it.each([
    [
      "[mdserver]\nprot = 80\n",
      `mdserver: ${conf}: [mdserver] prot: unknown key (known: listen, port,`,
    ],
    ["[mdserver]\nport = 0\n", `mdserver: ${conf}: [mdserver] port: 0 is outside 1..65535`],
    ["[mdserver\nport = 80\n", `mdserver: ${conf}: line 1: "[mdserver" is not a [section] header`],
    [
      "[mdserver]\ninstances-file = /no/such.yaml\n",
      "mdserver: /no/such.yaml: cannot read (ENOENT)",
    ],
  ])("%j", async (text, message) => {
    writeFileSync(conf, text);
    const r = await runMdserver(["--config", conf], net.server);
    expect(r.code).toBe(1);
    expect(r.stderr.startsWith(message) || r.stderr.includes(message)).toBe(true);
  });

  it("names a missing config file the admin asked for", async () => {
    const r = await runMdserver(["--config", join(dir, "absent.conf")], net.server);
    expect(r).toMatchObject({
      code: 1,
      stderr: `mdserver: ${join(dir, "absent.conf")}: cannot read (ENOENT)\n`,
    });
  });

  it("says in one line that the listen address is on no interface", async () => {
    writeFileSync(conf, "[mdserver]\nlibvirt = no\nlisten = 169.254.169.254, 10.99.99.99\n");
    const r = await runMdserver(["--config", conf], net.server);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "mdserver: cannot listen on 10.99.99.99:80: the address is on no interface (add it, e.g. ip addr add 10.99.99.99/32 dev <bridge>)\n",
    );
  });

  it("checks a configuration without serving (--check)", async () => {
    writeFileSync(conf, "[mdserver]\nport = 8080\n");
    expect(await runMdserver(["--config", conf, "--check"])).toMatchObject({ code: 0, stderr: "" });
  });
});

describe("a running mdserver", () => {
  const server = new MdserverProcess(net.server, conf);
  const yaml = (host: string) =>
    `instances:\n  - {name: vm31, ip: 10.10.10.31, hostname: ${host}}\n`;

  beforeAll(async () => {
    writeFileSync(instances, yaml("first"));
    writeFileSync(
      conf,
      `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/state\ninstances-file = ${instances}\n`,
    );
    await server.start();
  });

  afterAll(() => server.stop());

  it("signs identity documents with a host key made at first start; openssl verifies them", async () => {
    const key = join(dir, "state/identity/key.pem");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const printed = await runMdserver(["--config", conf, "--print-identity-cert"]);
    expect(printed).toMatchObject({ code: 0, stderr: "" });
    expect(printed.stdout).toBe(readFileSync(join(dir, "state/identity/cert.pem"), "utf8"));
    const cert = join(dir, "cert.pem");
    writeFileSync(cert, printed.stdout);
    const [, doc] = await get("/2021-03-23/dynamic/instance-identity/document");
    const [, pkcs7] = await get("/2021-03-23/dynamic/instance-identity/pkcs7");
    const [, sig] = await get("/2021-03-23/dynamic/instance-identity/signature");
    writeFileSync(join(dir, "document"), doc);
    writeFileSync(join(dir, "tampered"), doc.replace("10.10.10.31", "10.10.10.32"));
    writeFileSync(join(dir, "pkcs7"), `-----BEGIN PKCS7-----\n${pkcs7}\n-----END PKCS7-----\n`);
    writeFileSync(join(dir, "signature"), Buffer.from(sig, "base64"));
    writeFileSync(join(dir, "pub.pem"), openssl(["x509", "-in", cert, "-pubkey", "-noout"]).out);
    const smime = (content: string) =>
      openssl([
        "smime",
        "-verify",
        "-in",
        join(dir, "pkcs7"),
        "-inform",
        "PEM",
        "-content",
        content,
        "-certfile",
        cert,
        "-noverify",
      ]);
    const dgst = (content: string) =>
      openssl([
        "dgst",
        "-sha256",
        "-verify",
        join(dir, "pub.pem"),
        "-signature",
        join(dir, "signature"),
        content,
      ]);
    expect(JSON.parse(doc)).toMatchObject({ privateIp: "10.10.10.31" });
    expect(smime(join(dir, "document")).status).toBe(0);
    expect(smime(join(dir, "tampered")).status).not.toBe(0);
    expect(dgst(join(dir, "document"))).toMatchObject({ status: 0, out: "Verified OK\n" });
    expect(dgst(join(dir, "tampered")).status).not.toBe(0);
  });

  it("reloads config and instances on SIGHUP", async () => {
    expect(await get("/latest/meta-data/local-hostname")).toEqual([200, "first"]);
    writeFileSync(instances, yaml("second"));
    writeFileSync(
      conf,
      `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/state\ninstances-file = ${instances}\nregion = eu-lab-1\n`,
    );
    server.signal("SIGHUP");
    await server.waitFor((l) => l.msg === "configuration reloaded");
    expect(await get("/latest/meta-data/local-hostname")).toEqual([200, "second"]);
    expect(await get("/latest/meta-data/placement/region")).toEqual([200, "eu-lab-1"]);
  });

  it("refuses a bad reload and keeps serving the previous configuration", async () => {
    writeFileSync(
      conf,
      `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/state\ninstances-file = ${instances}\nregion = \nbogus = 1\n`,
    );
    writeFileSync(instances, yaml("third"));
    server.signal("SIGHUP");
    const line = await server.waitFor((l) => l.msg.startsWith("reload refused"));
    expect(line.error).toBe(
      `${conf}: [mdserver] bogus: unknown key (known: ${String(line.error).split("(known: ")[1]}`,
    );
    expect(await get("/latest/meta-data/local-hostname")).toEqual([200, "second"]);
    expect(await get("/latest/meta-data/placement/region")).toEqual([200, "eu-lab-1"]);
  });

  it("refuses a reload that changes a key only a restart applies, naming the key", async () => {
    writeFileSync(instances, yaml("fourth"));
    writeFileSync(
      conf,
      `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/other\ninstances-file = ${instances}\nregion = eu-lab-2\n`,
    );
    server.signal("SIGHUP");
    const line = await server.waitFor(
      (l) => l.msg.startsWith("reload refused") && String(l.error).includes("state-dir: changed"),
    );
    expect(line.error).toBe(
      `${conf}: [mdserver] state-dir: changed from "${dir}/state" to "${dir}/other", which takes effect only at a restart (systemctl restart mdserver)`,
    );
    expect(await get("/latest/meta-data/local-hostname")).toEqual([200, "second"]);
    expect(await get("/latest/meta-data/placement/region")).toEqual([200, "eu-lab-1"]);
  });

  it("cuts a 256 MiB POST off with 413 long before it is sent, without taking it in", async () => {
    const total = 256 * 1024 * 1024;
    for (const how of ["-H 'Transfer-Encoding: chunked'", `-H 'Content-Length: ${total}'`]) {
      const out = await inNsAsync(vm, "sh", [
        "-c",
        `head -c ${total} /dev/zero | curl -s -m 30 -o /dev/null -w '%{http_code} %{size_upload}' ${how} --data-binary @- http://169.254.169.254/latest/phone-home; true`,
      ]);
      const [code, sent] = out.trim().split(" ");
      expect(code, how).toBe("413");
      expect(Number(sent), how).toBeLessThan(total / 4);
    }
    expect(server.rssKiB()).toBeLessThan(200 * 1024);
    expect(await get("/latest/meta-data/local-hostname")).toEqual([200, "second"]);
  });

  it("answers odd requests with 4xx and stays up", async () => {
    expect(
      (await get("/latest/api/token", ["X-aws-ec2-metadata-token-ttl-seconds: 99999"], "PUT"))[0],
    ).toBe(400);
    expect(
      (await get("/latest/api/token", ["X-aws-ec2-metadata-token-ttl-seconds: x"], "PUT"))[0],
    ).toBe(400);
    expect((await get("/latest/api/token", [], "PUT"))[0]).toBe(400);
    expect((await get(`/latest/meta-data/${"x".repeat(5000)}`))[0]).toBe(414);
    expect((await get(`/latest/meta-data/${"x".repeat(20000)}`))[0]).toBe(431);
    expect((await get("/latest/meta-data/%00%2e%2e/"))[0]).toBe(404);
    expect((await get("/latest/meta-data/", ["X-aws-ec2-metadata-token: \u00ff"]))[0]).toBe(401);
    expect((await get("/../../etc/passwd"))[0]).toBe(404);
    expect(await get("/latest/meta-data/local-hostname")).toEqual([200, "second"]);
  });

  it("reports itself on its admin socket only: --status and Prometheus /metrics", async () => {
    // The file as running again (the last test left a state-dir change in it).
    writeFileSync(
      conf,
      `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/state\ninstances-file = ${instances}\nregion = eu-lab-1\n`,
    );
    const sock = join(dir, "state/admin.sock");
    expect(statSync(sock).isSocket()).toBe(true);
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    const status = await runMdserver(["--config", conf, "--status"]);
    expect(status).toMatchObject({ code: 0, stderr: "" });
    const lines = status.stdout.split("\n");
    expect(lines).toContain(`config:     ${conf}`);
    expect(lines).toContain("instances:  1 (libvirt 0, instances-file 1)");
    expect(lines).toContain("libvirt:    off");
    expect(status.stdout).toMatch(
      /^last reload: \S+ refused: .*state-dir: changed .*\(1 ok, 2 refused\)$/m,
    );
    expect(lines.find((l) => l.startsWith("file "))).toMatch(
      /^file\s+vm31\s+i-[0-9a-f]{17}\s+10\.10\.10\.31$/,
    );
    const json = JSON.parse((await runMdserver(["--config", conf, "--status", "--json"])).stdout);
    expect(json).toMatchObject({ instances: { total: 1, bySource: { libvirt: 0, file: 1 } } });

    const before = await get("/latest/meta-data/instance-id");
    expect(before[0]).toBe(200);
    const metrics = await inNsAsync(net.server, "curl", [
      "-s",
      "--unix-socket",
      sock,
      "http://admin/metrics",
    ]);
    const sample = (name: string) => {
      const line = metrics.split("\n").find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    };
    // Every request of this file so far came from vm31 (10.10.10.31), and the tests above
    // answered 200, 400, 401, 404, 413 and 414 to it.
    for (const code of [200, 400, 401, 404, 413, 414]) {
      expect(metrics).toMatch(
        new RegExp(`^mdserver_requests_total\\{vm="vm31",status="${code}"\\} [1-9]`, "m"),
      );
    }
    expect(sample('mdserver_instances{source="file"}')).toBe(1);
    expect(sample('mdserver_reloads_total{result="ok"}')).toBe(1);
    expect(sample('mdserver_reloads_total{result="refused"}')).toBe(2);
    expect(sample("mdserver_libvirt_stream_restarts_total")).toBe(0);
    const count = sample("mdserver_request_duration_seconds_count") ?? 0;
    expect(sample('mdserver_request_duration_seconds_bucket{le="+Inf"}')).toBe(count);
    // Log lines go out in batches (at most 10 ms late): every counted request is logged.
    await server.waitFor(() => server.requests().length === count);

    // The guest-facing listener has no such paths, for a known VM or anyone else.
    expect((await get("/metrics"))[0]).toBe(404);
    expect((await get("/status"))[0]).toBe(404);
    await server.waitFor((l) => l.msg === "request" && l.path === "/status" && l.status === 404);
  });

  it("refuses to start a second mdserver on the same admin socket, in one line", async () => {
    const other = join(dir, "second.conf");
    writeFileSync(other, `[mdserver]\nlibvirt = no\nport = 8099\nstate-dir = ${dir}/state\n`);
    const r = await runMdserver(["--config", other], net.server);
    expect(r).toMatchObject({
      code: 1,
      stderr: `mdserver: admin socket ${dir}/state/admin.sock: another mdserver is running with it (stop it, or set [mdserver] admin-socket)\n`,
    });
    expect((await runMdserver(["--config", conf, "--status"])).code).toBe(0);
  });
});

describe("mdserver --status without a server", () => {
  it("says in one line that no mdserver is running", async () => {
    const lone = join(dir, "lone.conf");
    writeFileSync(lone, `[mdserver]\nlibvirt = no\nstate-dir = ${dir}/nobody\n`);
    expect(await runMdserver(["--config", lone, "--status"])).toEqual({
      code: 1,
      stdout: "",
      stderr: `mdserver: cannot reach ${dir}/nobody/admin.sock: no mdserver is running with this configuration (is it started? systemctl status mdserver)\n`,
    });
  });
});
