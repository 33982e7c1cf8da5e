/**
 * The host cache's shared, read-only copy of a version's program disks, for the host agent: one per
 * repository and version under <cache>/disks/<repository id>/<version>/, made once by pullVersion and
 * reused by every instance (containers mount the tree as overlayfs lower layer; VMs use the image as a
 * qcow2 backing file). Two processes materializing the same version at once both succeed: the loser's
 * copy is thrown away.
 */
import { chmod, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { RepoReader } from "../repo/repo-reader.js";
import type { RepoTransport } from "../repo/transport.js";
import { cacheLayout } from "./cache-dir.js";
import { type PullOptions, type PullResult, pullVersion } from "./pull.js";

export interface CachedVersion {
  /** The directory holding the version's disks (a tree's root directly when it is the only disk). */
  readonly path: string;
  readonly version: number;
  /** Undefined when the copy already existed and nothing was fetched. */
  readonly pulled: PullResult | undefined;
}

export async function materializeInCache(
  transport: RepoTransport,
  options: Omit<PullOptions, "readOnly">,
): Promise<CachedVersion> {
  const reader = new RepoReader(transport);
  const { id } = await reader.descriptor();
  if (!/^[0-9A-Za-z-]{1,64}$/.test(id)) {
    throw new CollectiveError(
      "REPO_CORRUPT",
      `${transport.url}: repository id ${JSON.stringify(id)} is not a plain name`,
      {
        hint: "The repository's repo.json is damaged or hostile.",
      },
    );
  }
  const version = options.version ?? (await reader.latestVersion());
  const parent = join(cacheLayout(options.cacheDir).disks, id);
  const path = join(parent, String(version));
  if (
    await stat(path).then(
      () => true,
      () => false,
    )
  )
    return { path, version, pulled: undefined };
  await mkdir(parent, { recursive: true, mode: 0o700 });
  await chmod(cacheLayout(options.cacheDir).disks, 0o700);
  try {
    // Modes stay exactly as published: the tree is an overlayfs lower layer, which the kernel never
    // writes, and an appliance's root has no CAP_DAC_OVERRIDE, so a /tmp stripped of its write bits
    // would be unwritable inside it. The cache is protected by its 0700 directories instead.
    const pulled = await pullVersion(transport, path, { ...options, version, readOnly: false });
    return { path, version, pulled };
  } catch (error) {
    // Someone else finished the same version first: theirs is as good as ours would have been.
    if (
      error instanceof CollectiveError &&
      error.code === "PULL_DEST" &&
      (await stat(path).then(
        () => true,
        () => false,
      ))
    ) {
      return { path, version, pulled: undefined };
    }
    throw error;
  }
}
