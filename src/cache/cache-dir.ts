/**
 * Where the host cache lives and how it is laid out. One cache serves every appliance on the host:
 *
 *   packs/<id>.idx     a repository pack's index, verified against its id (immutable, kept forever)
 *   packs/<id>.frames  the pack's frames, decompressed and verified, each at a fixed 4 KiB-aligned
 *                      offset (a sparse file; cached-pack.ts)
 *   packs/<id>.present a bitmap over the pack's frames: which frames of .frames are present
 *   objects/<hash>     stream indexes, verified against their names
 *   disks/<repository id>/<version>/<disk>   materialized program disks, read-only
 *   tmp/               work in progress; nothing here is ever read as a result
 *
 * Pack ids and object names are content hashes, so caches are shared safely between repositories and
 * processes: two writers of the same chunk write the same bytes at the same offset.
 */
import { mkdir } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { CollectiveError } from "../errors.js";
import { writeFileAtomic } from "../repo/fs-atomic.js";

export const defaultCacheDir = "/var/lib/collective/cache";

/** The cache directory: the option, else $COLLECTIVE_CACHE, else /var/lib/collective/cache. */
export function cacheDirFrom(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = option ?? env.COLLECTIVE_CACHE ?? defaultCacheDir;
  if (chosen === "") {
    throw new CollectiveError("CACHE_DIR", "the cache directory is empty", {
      hint: "Give a directory with --cache DIR or COLLECTIVE_CACHE, or unset them for the default.",
    });
  }
  return isAbsolute(chosen) ? chosen : resolve(chosen);
}

export interface CacheLayout {
  readonly root: string;
  readonly packs: string;
  readonly objects: string;
  readonly disks: string;
  readonly tmp: string;
}

export function cacheLayout(root: string): CacheLayout {
  return {
    root,
    packs: join(root, "packs"),
    objects: join(root, "objects"),
    disks: join(root, "disks"),
    tmp: join(root, "tmp"),
  };
}

/** Creates the cache's directories, with an error that says what to do when that is not allowed. */
export async function prepareCache(root: string): Promise<CacheLayout> {
  const layout = cacheLayout(root);
  try {
    for (const dir of [layout.packs, layout.objects, layout.disks, layout.tmp])
      await mkdir(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CollectiveError("CACHE_DIR", `cannot use the cache directory ${root}: ${code}`, {
      hint: "Run as a user who may write there, or choose another with --cache DIR or COLLECTIVE_CACHE.",
      cause: error,
    });
  }
  return layout;
}

/**
 * Writes a file the cache keeps (a pack index, a stream index) atomically; a failure becomes CACHE_DIR,
 * naming what was kept and where (`what`: "pack index <id>", "stream index <name>").
 */
export async function keepInCache(what: string, path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFileAtomic(path, bytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CollectiveError("CACHE_DIR", `cannot keep ${what} in the cache (${path}): ${code}`, {
      hint: "Free space in the cache's filesystem or let this user write there, or choose another cache with --cache DIR.",
      cause: error,
    });
  }
}
