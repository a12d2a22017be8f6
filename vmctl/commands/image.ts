import { AppError } from "../../lib/errors.js";
import { type Command as Cmd, LOCAL } from "../../lib/exec/command.js";
import type { CliDeps } from "../context.js";
import type { Parent } from "../program.js";
import { listVms } from "../vm/vms.js";
import { registerImagePull } from "./image-pull.js";
import { gib, reportImported, shortDigest } from "./image-report.js";
import { age, table } from "./table.js";
import { imageStore, vmContext } from "./vm-deps.js";

export function registerImage(program: Parent, deps: CliDeps): void {
  const image = program.command("image").description("the cache of base images");
  registerImagePull(image, deps);
  image
    .command("import")
    .description("copy a cloud image (qcow2/raw, no backing file) into the cache, read-only")
    .argument("<name>")
    .argument("<file>")
    .option("--kernel <file>", "kernel for direct boot (images without a bootloader)")
    .option("--initrd <file>", "initrd for direct boot")
    .option("--cmdline <args>", "kernel command line (default: root=/dev/vda console=ttyS0)")
    .option(
      "--user <name>",
      "the login user cloud-init creates in this image (e.g. debian, ubuntu)",
    )
    .action(async (name, file, o, self) => {
      const g = self.optsWithGlobals();
      // Progress bar only on a terminal (style rule 11).
      const visible =
        deps.isTty && deps.interactive
          ? (c: Cmd) => (deps.interactive as NonNullable<CliDeps["interactive"]>)(LOCAL, c)
          : undefined;
      const img = await imageStore(deps, g).import(name, file, o, visible);
      reportImported(deps, g, img);
    });
  image
    .command("list")
    .description("list cached images")
    .action((_o, self) => {
      const g = self.optsWithGlobals();
      const images = imageStore(deps, g).list();
      if (g.json) return deps.stdout(JSON.stringify(images));
      const rows = [
        ["NAME", "SIZE", "VIRTUAL", "FORMAT", "BOOT", "DIGEST", "USER", "AGE", "SOURCE"],
      ];
      for (const i of images) {
        rows.push([
          i.name,
          i.sizeBytes === undefined ? "-" : gib(i.sizeBytes),
          gib(i.virtualSize),
          i.format,
          // The firmware the disk's partition table can boot with (see image-firmware.ts).
          i.kernel ? "kernel" : (i.firmware ?? "-"),
          i.digest ? shortDigest(i.digest) : "-",
          i.user ?? "-",
          age(i.imported),
          i.source ?? "-",
        ]);
      }
      for (const line of table(rows)) deps.stdout(line);
    });
  image
    .command("delete")
    .description("remove an image from the cache (refused while VMs use it)")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      const store = imageStore(deps, g);
      if (!store.get(name))
        throw new AppError("NOT_FOUND", `no image ${name} (see: vmctl image list)`);
      const ctx = vmContext(deps, g);
      const users = (await listVms(ctx.fabric.cluster, ctx.virsh, deps.stderr)).filter(
        (v) => v.instance.image === name,
      );
      if (users.length) {
        throw new AppError(
          "IN_USE",
          `image ${name} backs ${users.map((v) => v.instance.name).join(", ")}: delete those VMs first`,
        );
      }
      await store.delete(name);
      deps.stdout(`${g.dryRun ? "would delete" : "deleted"} image ${name}`);
    });
}
