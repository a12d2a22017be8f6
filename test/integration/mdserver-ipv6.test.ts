import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceIdFromUuid } from "../../lib/instance.js";
import { inNsAsync, MdNetwork } from "../helpers/md-netns.js";
import { MdserverProcess, runMdserver } from "../helpers/mdserver-process.js";

const net = new MdNetwork();
const dir = mkdtempSync(join(tmpdir(), "mdserver-v6-"));
const conf = join(dir, "mdserver.conf");
const server = new MdserverProcess(net.server, conf);
const UUID_A = "a6a6a6a6-0000-4000-8000-000000000051";
const UUID_B = "b6b6b6b6-0000-4000-8000-000000000052";
const vms: Record<string, string> = {};

/** curl from a VM namespace: [status, body]. */
async function curl(vm: string, url: string, args: string[] = []): Promise<[number, string]> {
  const out = await inNsAsync(vm, "curl", [
    "-s",
    "-g",
    "-m",
    "3",
    ...args,
    "-w",
    "\n%{http_code}",
    url,
  ]);
  const i = out.lastIndexOf("\n");
  return [Number(out.slice(i + 1)), out.slice(0, i)];
}
const V6 = "http://[fd00:ec2::254]";
const V4 = "http://169.254.169.254";

describe("mdserver on fd00:ec2::254 (ipv6 = yes)", () => {
  beforeAll(async () => {
    net.create();
    net.enableIpv6();
    vms.a = net.addVm("10.10.10.51");
    net.addIpv6(vms.a, "fd00:10::51");
    vms.b = net.addVm("10.10.10.52");
    net.addIpv6(vms.b, "fd00:10::52");
    vms.stranger = net.addVm("10.10.10.59");
    net.addIpv6(vms.stranger, "fd00:10::59");
    writeFileSync(
      join(dir, "instances.yaml"),
      // b's address is written long-hand: it must still match the socket's fd00:10::52.
      `instances:\n  - {name: six-a, uuid: ${UUID_A}, ips: [10.10.10.51, "fd00:10::51"]}\n  - {name: six-b, uuid: ${UUID_B}, hostname: bee, ips: ["FD00:0010:0:0:0:0:0:0052"]}\n`,
    );
    writeFileSync(
      conf,
      `[mdserver]\nlibvirt = no\nipv6 = yes\nstate-dir = ${dir}/state\ninstances-file = ${join(dir, "instances.yaml")}\n`,
    );
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives each VM its own identity over IPv6, by its source address", async () => {
    expect(await curl(vms.a as string, `${V6}/latest/meta-data/instance-id`)).toEqual([
      200,
      instanceIdFromUuid(UUID_A),
    ]);
    expect(await curl(vms.a as string, `${V6}/latest/meta-data/local-hostname`)).toEqual([
      200,
      "six-a",
    ]);
    expect(await curl(vms.a as string, `${V6}/latest/meta-data/ipv6`)).toEqual([
      200,
      "fd00:10::51",
    ]);
    expect(await curl(vms.b as string, `${V6}/latest/meta-data/instance-id`)).toEqual([
      200,
      instanceIdFromUuid(UUID_B),
    ]);
    expect(await curl(vms.b as string, `${V6}/latest/meta-data/local-hostname`)).toEqual([
      200,
      "bee",
    ]);
    // The same VM over IPv4 is the same instance; b has no IPv4 address in its record.
    expect(await curl(vms.a as string, `${V4}/latest/meta-data/instance-id`)).toEqual([
      200,
      instanceIdFromUuid(UUID_A),
    ]);
    expect((await curl(vms.b as string, `${V4}/latest/meta-data/instance-id`))[0]).toBe(404);
    await server.waitFor((l) => l.msg === "request" && l.client === "fd00:10::52");
    expect(server.requests().filter((l) => l.client === "fd00:10::51")[0]).toMatchObject({
      instance: "six-a",
      status: 200,
    });
  });

  it("issues and checks IMDSv2 tokens over IPv6, for the VM that asked only", async () => {
    const [s, token] = await curl(vms.a as string, `${V6}/latest/api/token`, [
      "-X",
      "PUT",
      "-H",
      "X-aws-ec2-metadata-token-ttl-seconds: 60",
    ]);
    expect(s).toBe(200);
    const h = ["-H", `X-aws-ec2-metadata-token: ${token}`];
    expect(await curl(vms.a as string, `${V6}/latest/meta-data/instance-id`, h)).toEqual([
      200,
      instanceIdFromUuid(UUID_A),
    ]);
    expect((await curl(vms.b as string, `${V6}/latest/meta-data/instance-id`, h))[0]).toBe(401);
  });

  it("answers an address no instance claims with 404, and logs it once", async () => {
    const s = vms.stranger as string;
    expect(await curl(s, `${V6}/latest/meta-data/instance-id`)).toEqual([404, "Not Found"]);
    expect((await curl(s, `${V6}/latest/meta-data/`))[0]).toBe(404);
    await server.waitFor((l) => l.msg === "request" && l.client === "fd00:10::59");
    const warned = server.lines.filter((l) => l.level === "warn" && l.client === "fd00:10::59");
    expect(warned).toHaveLength(1);
  });

  it("reports the IPv6 listener in --status", async () => {
    const r = await runMdserver(["--config", conf, "--status"]);
    expect(r.stdout).toContain("listening:  169.254.169.254, [fd00:ec2::254] port 80\n");
  });

  it("refuses to start when fd00:ec2::254 is on no interface, in one line", async () => {
    const other = join(dir, "other.conf");
    writeFileSync(
      other,
      `[mdserver]\nlibvirt = no\nipv6 = yes\nport = 8080\nstate-dir = ${dir}/other\n`,
    );
    const r = await runMdserver(["--config", other], vms.stranger);
    expect(r).toMatchObject({
      code: 1,
      stderr:
        "mdserver: cannot listen on 169.254.169.254:8080: the address is on no interface (add it, e.g. ip addr add 169.254.169.254/32 dev <bridge>)\n",
    });
    writeFileSync(
      other,
      `[mdserver]\nlibvirt = no\nlisten = 10.10.10.59\nipv6 = yes\nport = 8080\nstate-dir = ${dir}/other\n`,
    );
    expect(await runMdserver(["--config", other], vms.stranger)).toMatchObject({
      code: 1,
      stderr:
        "mdserver: cannot listen on [fd00:ec2::254]:8080: the address is on no interface, or still tentative (add it, e.g. ip addr add fd00:ec2::254/128 dev <bridge> nodad)\n",
    });
  });
});
