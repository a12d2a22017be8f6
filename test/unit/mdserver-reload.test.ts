import { describe, expect, it } from "vitest";
import { parseMdserverConfig } from "../../mdserver/config/mdserver-config.js";
import { restartNeeded } from "../../mdserver/load.js";

const FILE = "/etc/mdserver/mdserver.conf";
const conf = (lines: string) => parseMdserverConfig(FILE, `[mdserver]\n${lines}\n`);

describe("SIGHUP reload", () => {
  it("takes changes of served values", () => {
    expect(restartNeeded(conf("region = a"), conf("region = b\nimdsv2 = required"))).toBe(
      undefined,
    );
  });

  it.each([
    ["state-dir = /a", "state-dir = /b", 'state-dir: changed from "/a" to "/b"'],
    ["", "libvirt = no", 'libvirt: changed from "true" to "false"'],
    ["", "libvirt-uri = qemu:///session", 'libvirt-uri: changed from (unset) to "qemu:///session"'],
    [
      "reconcile-seconds = 60",
      "reconcile-seconds = 5",
      'reconcile-seconds: changed from "60" to "5"',
    ],
    ["port = 80", "port = 81", 'port: changed from "80" to "81"'],
    [
      "listen = 127.0.0.1",
      "listen = 127.0.0.1, ::1",
      'listen: changed from "127.0.0.1" to "127.0.0.1, ::1"',
    ],
  ])("refuses %j -> %j in one line naming the key", (before, after, why) => {
    expect(restartNeeded(conf(before), conf(after))).toBe(
      `${FILE}: [mdserver] ${why}, which takes effect only at a restart (systemctl restart mdserver)`,
    );
  });
});
