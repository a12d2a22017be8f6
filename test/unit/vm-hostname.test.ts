import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { instanceFromDomainXml } from "../../lib/metadata-xml.js";
import { testApp } from "../helpers/app-fixture.js";
import { fakeCluster } from "../helpers/fake-cluster.js";

describe("the hostname of a VM vmctl creates", () => {
  it("is left to mdserver, so its hostname-prefix applies", async () => {
    let xml = "";
    const t = fakeCluster({
      answer: (c) => {
        // virsh reads the domain from a file that exists only while define runs.
        if (c.file === "virsh" && c.args.includes("define"))
          xml = readFileSync(c.args.at(-1) ?? "", "utf8");
        return undefined;
      },
    });
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    const key = join(t.d, "key.pub");
    const argv = ["create", "web1", "--net", "net1", "--image", "deb", "--ssh-key", key];
    expect(await t.vmctl(...argv, "--no-wait")).toBe(0);
    expect(xml).not.toContain("hostname>");
    const inst = instanceFromDomainXml(xml);
    if (!inst) throw new Error(`not a domain: ${xml}`);
    const { req } = testApp({ conf: "[mdserver]\nhostname-prefix = vm-\n", instances: [inst] });
    const from = inst.addresses[0] ?? "";
    expect((await req("/latest/meta-data/hostname", { from })).body).toBe("vm-web1");
  });
});
