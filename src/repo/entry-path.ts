/**
 * Paths of entries inside an appliance's tree. Archives and directories are hostile input: an entry may
 * try to climb out (`../x`), be absolute (`/etc/passwd`), or hide NUL bytes. Every path that enters a
 * tree listing passes through here.
 */
import { CollectiveError } from "../errors.js";
import { entryPathSegments } from "../fs-safety/entry-path.js";

/**
 * Normalises an archive member name to a listing path ("." for the root). Leading "./" and trailing "/"
 * are harmless and removed; absolute names, ".." components and NUL bytes are refused (by the one
 * checker in fs-safety/), naming the source.
 */
export function normalizeEntryPath(name: string, source: string): string {
  const segments = entryPathSegments(name, "entry", (why) => {
    throw new CollectiveError(
      "HOSTILE_ARCHIVE",
      `${source}: entry ${JSON.stringify(name)} is refused: ${why}`,
      {
        hint: "an appliance image must use relative names that stay inside it (tar -C ROOT -cf image.tar .)",
      },
    );
  });
  return segments.length === 0 ? "." : segments.join("/");
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash);
}

/**
 * Byte-order comparison of UTF-8 paths, the order of a tree listing. UTF-16 code units compare in the
 * same order as UTF-8 bytes below the surrogates (U+D800), so strings are compared directly there; only
 * a difference at or above U+D800 needs the bytes. Encoding both paths for every comparison made
 * sorting a listing of a few thousand entries cost 20 ms, most of it garbage.
 */
export function comparePaths(a: string, b: string): number {
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 || y >= 0xd800) return Buffer.compare(Buffer.from(a), Buffer.from(b));
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
