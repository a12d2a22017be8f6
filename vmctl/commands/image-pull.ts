import { AppError } from "../../lib/errors.js";
import { type Command as Cmd, LOCAL } from "../../lib/exec/command.js";
import type { CliDeps } from "../context.js";
import type { Parent } from "../program.js";
import { KNOWN_IMAGES } from "../vm/catalogue.js";
import { expectedFromFlag } from "../vm/checksums.js";
import { planPull, pullImage, type Verify } from "../vm/pull.js";
import { reportImported } from "./image-report.js";
import { downloadProgress } from "./progress.js";
import { imageStore } from "./vm-deps.js";

export function registerImagePull(image: Parent, deps: CliDeps) {
  image
    .command("pull")
    .description(
      `download a cloud image (qcow2, raw, .xz, .tar.xz), verify it, and cache it; known names: ${Object.keys(KNOWN_IMAGES).join(", ")}`,
    )
    .argument("<name>")
    .argument("[url]", "http(s) URL (default: the known image of that name)")
    .option("--sha256 <hex>", "the file's SHA-256")
    .option("--sha512 <hex>", "the file's SHA-512")
    .option("--checksums <url>", "a SHA256SUMS/SHA512SUMS file listing the file by name")
    .option("--user <name>", "the login user cloud-init creates in this image")
    .action(async (name, url, o, self) => {
      const g = self.optsWithGlobals();
      const known = KNOWN_IMAGES[name];
      if (!url && !known) {
        throw new AppError(
          "USAGE",
          `image pull ${name}: no URL given and no known image of that name (known: ${Object.keys(KNOWN_IMAGES).join(", ")})`,
        );
      }
      const flags = [o.sha256, o.sha512, o.checksums].filter((f) => f !== undefined);
      if (flags.length > 1)
        throw new AppError("USAGE", "image pull: give one of --sha256, --sha512, --checksums");
      let verify: Verify;
      if (o.sha256 !== undefined) verify = { expected: expectedFromFlag("sha256", o.sha256) };
      else if (o.sha512 !== undefined) verify = { expected: expectedFromFlag("sha512", o.sha512) };
      else if (o.checksums !== undefined) verify = { checksums: o.checksums };
      else if (!url && known) verify = { checksums: known.checksums };
      else
        throw new AppError(
          "USAGE",
          `image pull ${name}: nothing to verify the download with; give --sha256 HEX, --sha512 HEX or --checksums URL`,
        );
      const user = o.user ?? (url ? undefined : known?.user);
      const store = imageStore(deps, g);
      const bar = downloadProgress(deps, `pull ${name}`);
      const req = {
        name,
        url: url ?? (known?.url as string),
        verify,
        ...(user ? { user } : {}),
        progress: bar.update,
        ...(deps.isTty && deps.interactive && !g.dryRun
          ? {
              visible: (c: Cmd) =>
                (deps.interactive as NonNullable<CliDeps["interactive"]>)(LOCAL, c),
            }
          : {}),
      };
      const plan = await planPull(store, req);
      if (g.dryRun) {
        deps.stdout(
          `would download ${req.url} to ${plan.part}, check ${plan.expected.algorithm} ${plan.expected.hex}, unpack it if compressed, and import it as ${name} (nothing was downloaded)`,
        );
        return;
      }
      try {
        const img = await pullImage(store, deps.runnerFor(LOCAL), req, plan);
        bar.done();
        bar.summary();
        reportImported(deps, g, img);
      } catch (err) {
        bar.done();
        throw err;
      }
    });
}
