/**
 * The parts of a verified manifest that the cache acts on, checked before use. A signature proves who
 * wrote a manifest, not that it is well-formed: a disk name becomes a file name, pack ids become paths.
 */
import { CollectiveError } from "../errors.js";
import { entryPathSegments } from "../fs-safety/entry-path.js";
import { type Disk, isHash, type Manifest } from "../repo/format.js";

export function checkManifestForFetch(manifest: Manifest, where: string): void {
  const fail = (why: string): never => {
    throw new CollectiveError("MANIFEST_INVALID", `${where} version ${manifest.version}: ${why}`, {
      hint: "The publisher wrote a manifest this cui cannot use safely; nothing was fetched.",
    });
  };
  if (!Array.isArray(manifest.packs) || !manifest.packs.every(isHash))
    fail("its pack list is not a list of pack ids");
  if (!Array.isArray(manifest.disks)) fail("it has no disk list");
  const names = new Set<string>();
  for (const disk of manifest.disks as readonly Disk[]) {
    const name = String(disk?.name);
    const segments = (() => {
      try {
        return entryPathSegments(name, "disk name");
      } catch {
        return [];
      }
    })();
    if (segments.length !== 1 || segments[0] !== name)
      fail(`disk name ${JSON.stringify(name)} is not a plain file name`);
    if (names.has(name)) fail(`disk ${name} appears twice`);
    names.add(name);
    if (!Number.isSafeInteger(disk.size) || disk.size < 0) fail(`disk ${name} has no valid size`);
    if (disk.shape === "tree") {
      if (!isHash(disk.listing)) fail(`tree disk ${name} has no valid listing`);
    } else if (disk.shape === "block") {
      if (!isHash(disk.blocks)) fail(`block disk ${name} has no valid block map`);
      if (!Number.isSafeInteger(disk.chunkSize) || disk.chunkSize <= 0 || disk.chunkSize > 1 << 24) {
        fail(`block disk ${name} has an invalid chunk size`);
      }
    } else {
      fail(`disk ${name} has unknown shape ${JSON.stringify((disk as { shape?: unknown }).shape)}`);
    }
  }
}
