import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  cloudInitOutcome,
  describeOutcome,
  readyState,
} from "../../vmctl/vm/cloud-init-console.js";

/** A real Debian 12 guest's serial console: cloud-init 22.4.2 logged five warnings. */
const REAL = readFileSync(
  resolve(import.meta.dirname, "../fixtures/console-cloud-init-22.4-warning.log"),
  "utf8",
);

describe("cloud-init's outcome on the serial console", () => {
  it("finds the final message and every warning of a real boot, in order", () => {
    const o = cloudInitOutcome(REAL);
    expect(o.finished).toBe(true);
    expect(o.version).toBe("22.4.2");
    expect(o.problems).toEqual([
      "DataSourceEc2.py[WARNING]: Metadata 'network' key not valid: None.",
      "DataSourceEc2.py[WARNING]: Metadata 'network' key not valid: None.",
      "util.py[WARNING]: /etc/ssh/ssh_host_dsa_key.pub: failed to open, can not phone home that data!",
      "util.py[WARNING]: /etc/ssh/ssh_host_rsa_key.pub: failed to open, can not phone home that data!",
      "util.py[WARNING]: /etc/ssh/ssh_host_ecdsa_key.pub: failed to open, can not phone home that data!",
    ]);
    expect(describeOutcome(o)).toBe(
      "done with 5 warnings/errors, first: DataSourceEc2.py[WARNING]: Metadata 'network' key not valid: None.",
    );
    // What vmctl create prints instead of "ready".
    expect(readyState(o)).toBe(
      "degraded (cloud-init done with 5 warnings/errors, first: DataSourceEc2.py[WARNING]: Metadata 'network' key not valid: None.; see cloud-init status --long in the guest)",
    );
  });

  it("reads only the latest boot of a console log a reboot appended to", () => {
    const second = REAL.split("\n")
      .filter((l) => !l.includes("[WARNING]"))
      .join("\n");
    const o = cloudInitOutcome(`${REAL}\n${second}`);
    expect(o).toEqual({ finished: true, version: "22.4.2", problems: [] });
    expect(describeOutcome(o)).toBe("done");
    expect(readyState(o)).toBe("ready");
  });

  it("says a boot is still running until the final message, and unknown without cloud-init", () => {
    const cut = REAL.slice(0, REAL.indexOf("finished at"));
    expect(describeOutcome(cloudInitOutcome(cut))).toBe(
      "running (no final message on the console yet)",
    );
    expect(describeOutcome(cloudInitOutcome("[    0.0] Linux version 6.1\n"))).toBe(
      "unknown (no cloud-init output on the console)",
    );
  });

  it("counts an ERROR as a problem too, without systemd's colour codes", () => {
    const log = [
      "[   1.0] cloud-init[9]: Cloud-init v. 25.1.4 running 'init-local' at X. Up 1 seconds.",
      "\u001b[0;32m  OK  \u001b[0m] Started x",
      "[   2.0] cloud-init[9]: 2026-12-03 18:29:23,415 - cc_scripts_user.py[ERROR]: Failed to run module",
      "[   3.0] cloud-init[9]: Cloud-init v. 25.1.4 finished at X. Datasource DataSourceEc2.  Up 3 seconds",
    ].join("\r\n");
    expect(cloudInitOutcome(log)).toEqual({
      finished: true,
      version: "25.1.4",
      problems: ["cc_scripts_user.py[ERROR]: Failed to run module"],
    });
  });
});
