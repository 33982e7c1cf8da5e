/**
 * Applies tar layers to a tree. Layers are read top-down (newest first): an entry that an upper layer
 * replaced, deleted (whiteout `.wh.NAME`) or hid (opaque directory `.wh..wh..opq`) is skipped without
 * storing its content, so overwritten files cost nothing. A plain rootfs tarball is one layer read with
 * whiteouts disabled.
 */
import { CollectiveError } from "../errors.js";
import type { ChunkStore } from "./chunk-store.js";
import { normalizeEntryPath, parentOf } from "./entry-path.js";
import type { TreeEntry } from "./format.js";
import { storeContent } from "./store-content.js";
import type { TarEntry } from "./tar-reader.js";
import type { TreeBuilder } from "./tree-builder.js";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

export class LayerStack {
  /** Paths defined by layers above the current one, with their type. */
  private readonly upper = new Map<string, TreeEntry["type"]>();
  private readonly whiteouts = new Set<string>();
  private readonly opaque = new Set<string>();

  constructor(
    private readonly tree: TreeBuilder,
    private readonly store: ChunkStore,
    private readonly progress?: (bytes: number) => void,
  ) {}

  private hiddenByUpper(path: string): boolean {
    if (this.upper.has(path) || this.whiteouts.has(path)) return true;
    let ancestor = path;
    while (ancestor !== ".") {
      ancestor = parentOf(ancestor);
      if (this.whiteouts.has(ancestor) || this.opaque.has(ancestor)) return true;
      const type = this.upper.get(ancestor);
      if (type !== undefined && type !== "dir") return true;
    }
    return false;
  }

  /** Applies one layer (call from the newest layer to the oldest). */
  async apply(
    entries: AsyncIterable<TarEntry>,
    source: string,
    options: { whiteouts: boolean },
  ): Promise<void> {
    const defined = new Map<string, TreeEntry["type"]>();
    const whiteouts: string[] = [];
    const opaque: string[] = [];
    for await (const entry of entries) {
      const path = normalizeEntryPath(entry.name, source);
      const base = path.slice(path.lastIndexOf("/") + 1);
      if (options.whiteouts && base.startsWith(WHITEOUT)) {
        if (base === OPAQUE) opaque.push(parentOf(path));
        else whiteouts.push(path.slice(0, path.length - base.length) + base.slice(WHITEOUT.length));
        continue;
      }
      if (this.hiddenByUpper(path)) continue;
      const tree = await this.toTreeEntry(entry, path, source);
      // A non-directory replaces whatever was there, subtree included; a directory only updates metadata.
      if (tree.type !== "dir" && this.tree.get(path)?.type === "dir") this.tree.deleteTree(path);
      this.tree.set(tree);
      defined.set(path, tree.type);
    }
    for (const [path, type] of defined) this.upper.set(path, type);
    for (const path of whiteouts) this.whiteouts.add(path);
    for (const path of opaque) this.opaque.add(path);
  }

  private async toTreeEntry(entry: TarEntry, path: string, source: string): Promise<TreeEntry> {
    const base: TreeEntry = {
      path,
      type: entry.type === "file" ? "file" : entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      mtimeNsec: entry.mtimeNsec,
    };
    if (Object.keys(entry.xattrs).length > 0) base.xattrs = entry.xattrs;
    switch (entry.type) {
      case "file": {
        const content = await storeContent(this.store, entry.body);
        if (content.size !== entry.size) {
          throw new CollectiveError(
            "BAD_ARCHIVE",
            `${source}: "${entry.name}" is truncated (${content.size} of ${entry.size} bytes)`,
          );
        }
        this.progress?.(content.size);
        return { ...base, size: content.size, chunks: content.chunks };
      }
      case "hardlink": {
        if (entry.linkName.startsWith("/")) {
          throw new CollectiveError(
            "HOSTILE_ARCHIVE",
            `${source}: hard link "${entry.name}" points outside the image, to "${entry.linkName}"`,
          );
        }
        return { ...base, link: normalizeEntryPath(entry.linkName, source) };
      }
      case "symlink":
        return { ...base, target: entry.linkName };
      case "char":
      case "block":
        return { ...base, rdev: [entry.devMajor, entry.devMinor] };
      default:
        return base;
    }
  }
}
