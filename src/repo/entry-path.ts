/**
 * Paths of entries inside an appliance's tree. Archives and directories are hostile input: an entry may
 * try to climb out (`../x`), be absolute (`/etc/passwd`), or hide NUL bytes. Every path that enters a
 * tree listing passes through here.
 */
import { CollectiveError } from "../errors.js";

/**
 * Normalises an archive member name to a listing path ("." for the root). Leading "./" and trailing "/"
 * are harmless and removed; absolute names and ".." components are refused, naming the source.
 */
export function normalizeEntryPath(name: string, source: string): string {
  if (name.includes("\0")) {
    throw new CollectiveError("HOSTILE_ARCHIVE", `${source}: entry name contains a NUL byte`);
  }
  if (name.startsWith("/")) {
    throw new CollectiveError("HOSTILE_ARCHIVE", `${source}: entry "${name}" has an absolute path`, {
      hint: "an appliance image must use relative names (tar -C ROOT -cf image.tar .)",
    });
  }
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      throw new CollectiveError(
        "HOSTILE_ARCHIVE",
        `${source}: entry "${name}" climbs out of the root with ".."`,
        {
          hint: "rebuild the image without path-escaping entries",
        },
      );
    }
    parts.push(part);
  }
  return parts.length === 0 ? "." : parts.join("/");
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash);
}

/** Byte-order comparison of UTF-8 paths, the order of a tree listing. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
