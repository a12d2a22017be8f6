import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeCluster, vmDomainXml } from "../helpers/fake-cluster.js";

const UUID = "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8";
const MAC = "52:54:00:c6:d7:e8";
const EVIL = "-oProxyCommand=touch /tmp/pwned";

function withWeb1(loginUser = "debian") {
  return fakeCluster({
    domains: [
      {
        name: "web1",
        state: "running",
        xml: vmDomainXml("web1", UUID, "10.10.10.3", MAC, loginUser),
      },
    ],
    hostFiles: { "/srv/h1/known_hosts/web1": "10.10.10.3 ssh-ed25519 AAAA\n" },
  });
}

describe("vmctl ssh", () => {
  it("ends ssh's options before the destination, so the command's own options stay its own", async () => {
    const t = withWeb1();
    expect(await t.vmctl("ssh", "web1", "--", "ls", "-oProxyCommand=x")).toBe(0);
    expect(t.interactive).toEqual([
      "netns:h1: ssh -o UserKnownHostsFile=/srv/h1/known_hosts/web1 -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -- debian@10.10.10.3 ls -oProxyCommand=x",
    ]);
  });

  it.each([["-l"], ["--user"]])(
    "refuses a login user %s that is not a user name, running nothing",
    async (flag) => {
      const t = withWeb1();
      expect(await t.vmctl("ssh", "web1", flag, EVIL)).toBe(1);
      expect(t.err).toEqual([
        `vmctl: --user ${EVIL}: not a user name (letters, digits, _ and -, not starting with -)`,
      ]);
      expect(t.interactive).toEqual([]);
      expect(t.commands().filter((c) => c.file === "ssh")).toEqual([]);
    },
  );

  it("refuses a login user from the domain's metadata that is not a user name", async () => {
    const t = withWeb1(EVIL);
    expect(await t.vmctl("ssh", "web1")).toBe(1);
    expect(t.err).toEqual([
      `vmctl: web1: the login user in its domain metadata (${EVIL}) is not a user name; give one with -l USER`,
    ]);
    expect(t.interactive).toEqual([]);
  });
});

describe("vmctl create --user", () => {
  it("refuses a login user that is not a user name before changing anything", async () => {
    const t = fakeCluster();
    expect(await t.vmctl("net", "create", "net1", "--subnet", "10.10.10.0/24")).toBe(0);
    const argv = ["create", "web2", "--net", "net1", "--image", "deb", "--no-wait"];
    expect(await t.vmctl(...argv, "--ssh-key", join(t.d, "key.pub"), "--user", EVIL)).toBe(1);
    expect(t.err).toEqual([
      `vmctl: --user ${EVIL}: not a user name (letters, digits, _ and -, not starting with -)`,
    ]);
    expect(t.mutations()).toEqual([]);
  });
});
