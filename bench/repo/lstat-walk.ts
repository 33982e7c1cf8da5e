/**
 * The least an unchanged tree publish must do in Node: start node and lstat every entry of the tree (a
 * readdir per directory). floors.ts times it; it prints the number of entries so that the work cannot be
 * skipped.
 *
 *   node dist/bench/repo/lstat-walk.js DIR
 */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

function walk(dir: string): number {
  let entries = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    entries++;
    if (lstatSync(path).isDirectory()) entries += walk(path);
  }
  return entries;
}

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write("usage: node dist/bench/repo/lstat-walk.js DIR\n");
  process.exit(2);
}
process.stdout.write(`${walk(dir)}\n`);
