import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { instanceFromDomainXml } from "../../lib/metadata-xml.js";
import { testApp } from "../helpers/app-fixture.js";
import { fakeCluster } from "../helpers/fake-cluster.js";

describe("vmctl create --user-data", () => {
  it("keeps a gzip'd file's bytes from the command line to what mdserver serves", async () => {
    let xml = "";
    const t = fakeCluster({
      answer: (c) => {
        // virsh reads the domain from a file that exists only while define runs.
        if (c.file === "virsh" && c.args.includes("define"))
          xml = readFileSync(c.args.at(-1) ?? "", "utf8");
        return undefined;
      },
    });
    const gz = gzipSync("#cloud-config\nruncmd: [[echo, zipped]]\n");
    writeFileSync(join(t.d, "ud.gz"), gz);
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    const argv = ["create", "web1", "--net", "net1", "--image", "deb"];
    expect(
      await t.vmctl(
        ...argv,
        "--ssh-key",
        join(t.d, "key.pub"),
        "--user-data",
        join(t.d, "ud.gz"),
        "--no-wait",
      ),
    ).toBe(0);
    const inst = instanceFromDomainXml(xml);
    expect(inst?.userData?.equals(gz)).toBe(true);
    if (!inst) throw new Error(`not a domain: ${xml}`);
    const { app } = testApp({ instances: [inst] });
    const res = await app.request("http://169.254.169.254/latest/user-data", {
      headers: { "x-test-client": inst.addresses[0] ?? "" },
    });
    expect(Buffer.from(await res.arrayBuffer()).equals(gz)).toBe(true);
  });
});
