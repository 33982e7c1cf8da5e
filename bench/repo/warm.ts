/**
 * Reading a step's files just before it is measured, so that every tool starts from the page cache.
 *
 * This machine runs DAMON's physical-address reclaim (kdamond, /sys/kernel/mm/damon/admin): page-cache
 * pages nobody touched for about a minute are paged out, and their memory goes back to the host. A tool
 * measured a few minutes after the appliance pair was made, or after its own publish, read part of its
 * input from the disk, and how much depended on the order the steps ran in and on how long the steps
 * before took. Measured with fincore(1) after the benchmark: v1.tar 77 of 112 MiB resident, v2.img 138 of
 * 245 MiB. Reading the files first makes every step a warm-cache step, the same for every tool.
 */
import { closeSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

const buffer = Buffer.allocUnsafe(1 << 20);

/** Reads every regular file under each path (a file or a directory; missing paths are skipped). */
export function warmFiles(paths: readonly string[]): void {
  for (const path of paths) warm(path);
}

function warm(path: string): void {
  let info: ReturnType<typeof lstatSync>;
  try {
    info = lstatSync(path);
  } catch {
    return;
  }
  if (info.isDirectory()) {
    for (const name of readdirSync(path)) warm(join(path, name));
    return;
  }
  if (!info.isFile()) return;
  const fd = openSync(path, "r");
  try {
    while (readSync(fd, buffer, 0, buffer.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}
