/**
 * What the cache needs of a manifest beyond its shape (repo/manifest-shape.ts, checked when it was
 * verified): a disk name becomes a file name, so it must be one plain name, used once; and a block
 * disk's chunk size bounds the buffers a fetch allocates per block.
 */
import { CollectiveError } from "../errors.js";
import { entryPathSegments } from "../fs-safety/entry-path.js";
import type { Manifest } from "../repo/format.js";

/** Largest block chunk a fetch accepts (16 MiB; publish makes 4 KiB or a filesystem's block size). */
const maxBlockChunk = 1 << 24;

export function checkManifestForFetch(manifest: Manifest, where: string): void {
  const fail = (why: string): never => {
    throw new CollectiveError("MANIFEST_INVALID", `${where} version ${manifest.version}: ${why}`, {
      hint: "The publisher wrote a manifest this cui cannot use safely; nothing was fetched.",
    });
  };
  const names = new Set<string>();
  for (const disk of manifest.disks) {
    const name = disk.name;
    if (!isPlainName(name)) fail(`disk name ${JSON.stringify(name)} is not a plain file name`);
    if (names.has(name)) fail(`disk ${name} appears twice`);
    names.add(name);
    if (disk.shape === "block" && disk.chunkSize > maxBlockChunk) {
      fail(
        `block disk ${name} has chunks of ${disk.chunkSize} bytes, more than the ${maxBlockChunk} a fetch accepts`,
      );
    }
  }
}

function isPlainName(name: string): boolean {
  try {
    const segments = entryPathSegments(name, "disk name");
    return segments.length === 1 && segments[0] === name;
  } catch {
    return false;
  }
}
