import { execFileSync } from "node:child_process";

/** Integration tests run the built programs (dist/), exactly as installed: build them once. */
export default function setup(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
}
