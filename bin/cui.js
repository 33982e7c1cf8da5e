#!/usr/bin/env node
// The `cui` executable: a thin shim over the compiled CLI (run `npm run build` first).
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
