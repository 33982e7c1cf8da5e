/**
 * Collects the entries of a tree (from a directory, a tarball or image layers), checks that the result
 * is a tree that can be materialised safely, and serialises the listing.
 */
import { CollectiveError } from "../errors.js";
import { comparePaths, parentOf } from "./entry-path.js";
import type { TreeEntry } from "./format.js";

export class TreeBuilder {
  private readonly entries = new Map<string, TreeEntry>();

  constructor(private readonly source: string) {}

  has(path: string): boolean {
    return this.entries.has(path);
  }

  get(path: string): TreeEntry | undefined {
    return this.entries.get(path);
  }

  set(entry: TreeEntry): void {
    this.entries.set(entry.path, entry);
  }

  delete(path: string): void {
    this.entries.delete(path);
  }

  /** Removes path and everything below it. */
  deleteTree(path: string): void {
    const prefix = `${path}/`;
    for (const key of this.entries.keys())
      if (key === path || key.startsWith(prefix)) this.entries.delete(key);
  }

  /** Logical size: the bytes of all regular files. */
  get size(): number {
    let total = 0;
    for (const entry of this.entries.values()) if (entry.type === "file") total += entry.size ?? 0;
    return total;
  }

  /**
   * Validates and returns the entries in listing order. Missing parent directories (tarballs often omit
   * them) are added as root-owned 0755 directories; a parent that is a symlink or a non-directory is an
   * error, as is a hard link to a path that is not a regular file of the tree.
   */
  finish(): TreeEntry[] {
    const root = this.entries.get(".");
    if (root === undefined) {
      this.entries.set(".", { path: ".", type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0 });
    } else if (root.type !== "dir") {
      // An archive whose "." (or "./", or "") is a file or a symlink: no root filesystem, and no pull could
      // write it out (the listing must start with the root directory).
      throw new CollectiveError(
        "HOSTILE_ARCHIVE",
        `${this.source}: the archive's root entry "." is a ${root.type}, not a directory`,
        { hint: "the root of an image must be a directory; rebuild the image" },
      );
    }
    for (const path of [...this.entries.keys()]) this.ensureParents(path);
    for (const entry of this.entries.values()) {
      if (entry.type !== "hardlink") continue;
      const target = entry.link === undefined ? undefined : this.entries.get(entry.link);
      if (target?.type !== "file") {
        throw new CollectiveError(
          "HOSTILE_ARCHIVE",
          `${this.source}: hard link "${entry.path}" points to "${entry.link}", which is not a regular file inside the image`,
        );
      }
    }
    return [...this.entries.values()].sort((a, b) => comparePaths(a.path, b.path));
  }

  private ensureParents(path: string): void {
    let child = path;
    while (child !== ".") {
      const parent = parentOf(child);
      const existing = this.entries.get(parent);
      if (existing === undefined) {
        this.entries.set(parent, {
          path: parent,
          type: "dir",
          mode: 0o755,
          uid: 0,
          gid: 0,
          mtime: 0,
          mtimeNsec: 0,
        });
      } else if (existing.type !== "dir") {
        throw new CollectiveError(
          "HOSTILE_ARCHIVE",
          `${this.source}: entry "${path}" lies under "${parent}", which is a ${existing.type}, not a directory`,
          { hint: "an archive must not write through a symlink or file; rebuild the image" },
        );
      } else {
        return;
      }
      child = parent;
    }
  }
}

/** Serialises entries as the JSON Lines listing. Keys in a fixed order so equal trees give equal bytes. */
export function serializeListing(entries: readonly TreeEntry[]): Buffer {
  const lines = entries.map((e) => {
    const line: Record<string, unknown> = {
      path: e.path,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime,
      mtimeNsec: e.mtimeNsec,
    };
    if (e.size !== undefined) line.size = e.size;
    if (e.chunks !== undefined && e.chunks.length > 0) line.chunks = e.chunks;
    if (e.target !== undefined) line.target = e.target;
    if (e.link !== undefined) line.link = e.link;
    if (e.rdev !== undefined) line.rdev = e.rdev;
    if (e.xattrs !== undefined && Object.keys(e.xattrs).length > 0) line.xattrs = e.xattrs;
    return `${JSON.stringify(line)}\n`;
  });
  return Buffer.from(lines.join(""));
}
