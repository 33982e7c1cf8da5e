#!/usr/bin/env node
// The `cui` executable: a thin shim over the compiled CLI (run `npm run build` first).
import { main } from "../dist/src/cli/main.js";

// A reader that stops early (`cui eval x.cvl | head`) is not an error: stop writing, quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
