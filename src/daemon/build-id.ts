/**
 * Which build of cui a process runs: the modification time of this compiled file. A CLI that finds a
 * daemon of another build (cui was rebuilt or upgraded while the daemon ran) says so, since the daemon
 * keeps running the old code until it is restarted.
 */
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function buildId(): string {
  return String(Math.trunc(statSync(fileURLToPath(import.meta.url)).mtimeMs));
}
