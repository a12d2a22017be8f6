import { execFileSync } from "node:child_process";

/**
 * Integration and e2e tests run the built programs (dist/), exactly as installed: build them
 * once per vitest run, whichever of the two tiers starts first.
 */
export default function setup(): void {
  if (process.env.MDSERVER_TEST_BUILT === "1") return;
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
  process.env.MDSERVER_TEST_BUILT = "1";
}
