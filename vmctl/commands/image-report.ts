import type { CliDeps, GlobalOptions } from "../context.js";
import type { Image } from "../vm/images.js";

export function reportImported(deps: CliDeps, g: GlobalOptions, img: Image): void {
  if (g.json) deps.stdout(JSON.stringify(img));
  else
    deps.stdout(
      `${g.dryRun ? "would import" : "imported"} ${img.name}: ${img.file} (${gib(img.virtualSize)} virtual, ${img.format}, boot ${img.kernel ? "kernel" : img.firmware})`,
    );
}

export function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)}G`;
}

/** sha256:0123456789ab… — enough to compare by eye; --json has the whole digest. */
export function shortDigest(digest: string): string {
  const [alg, hex] = digest.split(":");
  return hex ? `${alg}:${hex.slice(0, 12)}` : digest;
}
