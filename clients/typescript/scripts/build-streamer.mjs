// Builds the `streamer` CLI of this repository (cmd/streamer) into build/bin/streamer
// for the integration and browser tests, unless STREAMER_BIN names one already built.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

if (process.env.STREAMER_BIN) {
  console.log(`streamer: ${process.env.STREAMER_BIN} (STREAMER_BIN)`);
} else {
  const repo = fileURLToPath(new URL("../../..", import.meta.url));
  const out = fileURLToPath(new URL("../build/bin/streamer", import.meta.url));
  execFileSync("go", ["build", "-o", out, "./cmd/streamer"], { cwd: repo, stdio: "inherit" });
  console.log(`streamer: built ${out}`);
}
