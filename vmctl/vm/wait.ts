import { type BootRecord, bootRecordPath, parseBootRecord } from "../../lib/boot-record.js";
import { AppError } from "../../lib/errors.js";
import { cmd } from "../../lib/exec/command.js";
import type { Runner } from "../../lib/exec/runner.js";
import type { HostSpec } from "../net/cluster.js";
import type { Network } from "../net/model.js";
import { type CloudInitOutcome, cloudInitOutcome } from "./cloud-init-console.js";
import { dhcpPaths, parseLeases } from "./dhcp.js";
import { readHostFile } from "./host-files.js";
import { onDomain } from "./vms.js";

export interface WaitTarget {
  name: string;
  uuid: string;
  ip: string;
  mac: string;
  host: HostSpec;
  net: Network;
  consoleLog: string;
}

export interface WaitDeps {
  host: Runner;
  virsh: Runner;
  progress(line: string): void;
  sleep(ms: number): Promise<void>;
  now(): number;
}

/** Reads what the host's mdserver recorded for this instance (first request, phone_home). */
export async function bootRecord(
  runner: Runner,
  host: HostSpec,
  uuid: string,
): Promise<BootRecord | undefined> {
  return parseBootRecord(await readHostFile(runner, bootRecordPath(host.mdserverStateDir, uuid)));
}

export interface Ready {
  /** The guest's SSH host key as cloud-init reported it (phone_home) and ssh-keyscan saw it. */
  hostKey: string;
  /** What cloud-init's final stage said on the console: done, or the warnings it logged. */
  cloudInit: CloudInitOutcome;
}

/** cloud-init's final message follows phone_home in the same stage: allow it this long. */
const FINAL_MESSAGE_MS = 15_000;

/** Reads the console log of the VM's latest boot for cloud-init's outcome. */
export async function consoleOutcome(runner: Runner, consoleLog: string) {
  return cloudInitOutcome((await readHostFile(runner, consoleLog)) ?? "");
}

/**
 * Waits through the boot stages, printing each as it is reached, then reads cloud-init's
 * outcome from the console. On timeout, says which stage is stuck and where to look.
 */
export async function waitUntilReady(
  t: WaitTarget,
  deps: WaitDeps,
  timeoutS: number,
): Promise<Ready> {
  const start = deps.now();
  const deadline = start + timeoutS * 1000;
  let hostKey = "";
  const stages: { what: string; hint: string; done: () => Promise<boolean> }[] = [
    {
      what: "domain running",
      hint: `virsh -c ${t.host.libvirt} domstate ${t.name}`,
      done: async () =>
        (await deps.virsh.probe(onDomain(t.host, "domstate", t.name))).stdout.trim() === "running",
    },
    {
      what: "DHCP lease",
      hint: `${dhcpPaths(t.host, t.net).log} on ${t.host.name}`,
      done: async () =>
        parseLeases((await readHostFile(deps.host, dhcpPaths(t.host, t.net).leases)) ?? "").some(
          (l) => l.mac === t.mac,
        ),
    },
    {
      what: "first metadata request",
      hint: `mdserver's log on ${t.host.name} (journalctl -u mdserver)`,
      done: async () => (await bootRecord(deps.host, t.host, t.uuid))?.firstRequest !== undefined,
    },
    {
      what: "boot finished (phone_home)",
      hint: "cloud-init in the guest (cloud-init status --long)",
      done: async () => {
        const keys = (await bootRecord(deps.host, t.host, t.uuid))?.phoneHome?.hostKeys ?? {};
        hostKey = keys.ed25519 ?? keys.ecdsa ?? keys.rsa ?? "";
        return hostKey !== "";
      },
    },
    {
      what: "ssh port open",
      hint: `ssh on ${t.ip}`,
      done: async () => {
        const type = hostKey.split(" ")[0] ?? "";
        const r = await deps.host.probe(
          cmd("ssh-keyscan", ["-T", "2", "-t", keyscanType(type), t.ip]),
        );
        const seen = r.stdout.split("\n").find((l) => l.startsWith(`${t.ip} `));
        if (!seen) return false;
        if (seen.split(" ").slice(1, 3).join(" ") !== hostKey.split(" ").slice(0, 2).join(" ")) {
          throw new AppError(
            "HOST_KEY",
            `${t.name}: the SSH host key at ${t.ip} is not the one the guest reported`,
          );
        }
        return true;
      },
    },
  ];
  for (const stage of stages) {
    while (!(await stage.done())) {
      if (deps.now() > deadline) {
        throw new AppError(
          "TIMEOUT",
          `${t.name}: timed out after ${timeoutS} s waiting for ${stage.what}; look at ${stage.hint} and the console log ${t.consoleLog} on ${t.host.name}`,
        );
      }
      await deps.sleep(500);
    }
    deps.progress(`${t.name}: ${stage.what} (${((deps.now() - start) / 1000).toFixed(1)} s)`);
  }
  // Not a stage: an image whose kernel logs elsewhere than the serial port is still ready.
  const until = Math.min(deadline, deps.now() + FINAL_MESSAGE_MS);
  let cloudInit = await consoleOutcome(deps.host, t.consoleLog);
  while (!cloudInit.finished && deps.now() < until) {
    await deps.sleep(500);
    cloudInit = await consoleOutcome(deps.host, t.consoleLog);
  }
  return { hostKey, cloudInit };
}

function keyscanType(keyType: string): string {
  if (keyType.startsWith("ecdsa")) return "ecdsa";
  if (keyType === "ssh-rsa") return "rsa";
  return "ed25519";
}
