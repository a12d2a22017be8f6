import type { CloudInitOutcome } from "./cloud-init-console.js";
import { type Created, type CreateRequest, createVm, type VmContext } from "./create.js";
import { writeHostFile } from "./host-files.js";
import { knownHostsLine, knownHostsPath } from "./known-hosts.js";
import { waitUntilReady } from "./wait.js";

/**
 * The one create transaction: create and start the VM, then (unless `timeoutS` is undefined:
 * --no-wait) wait through its boot and pin its SSH host key. A failure at any point removes
 * everything create made, so nothing half-created stays behind.
 */
export async function createReadyVm(
  req: CreateRequest,
  ctx: VmContext,
  timeoutS: number | undefined,
): Promise<Created & { cloudInit?: CloudInitOutcome }> {
  const created = await createVm(req, ctx);
  if (timeoutS === undefined) return created;
  try {
    const run = ctx.fabric.runnerFor(created.host.target);
    const { hostKey, cloudInit } = await waitUntilReady(
      created,
      {
        host: run,
        virsh: ctx.virsh,
        progress: ctx.progress,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        now: () => Date.now(),
      },
      timeoutS,
    );
    await writeHostFile(
      run,
      knownHostsPath(created.host, req.name),
      knownHostsLine(created.ip, hostKey),
    );
    return { ...created, cloudInit };
  } catch (err) {
    ctx.progress(`${req.name}: not ready; removing everything create made`);
    await created.rollback.undoAfter(err);
    throw err;
  }
}
