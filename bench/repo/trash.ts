/**
 * Deleting many files makes ext4 slow to create new ones for about half a minute: its inode allocator
 * skips inodes deleted within the last dirty_expire_interval (recently_deleted() under find_inode_bit;
 * `perf` put more than half of a file-creation loop's time there after a large `rm -rf`). That made a
 * cold fetch of the tree (4,361 new files) several times slower for every tool whenever it followed a
 * deletion. So the benchmark moves what it replaces into a trash directory instead of deleting it, empties
 * the trash only before it waits and at the end, and waits out the window after preparing its data.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";

/** Moves path (if it exists) into trashDir, which must be on the same filesystem. */
export async function discard(path: string, trashDir: string): Promise<void> {
  await mkdir(trashDir, { recursive: true });
  await rename(path, join(trashDir, `${basename(path)}-${randomBytes(4).toString("hex")}`)).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    },
  );
}

export async function emptyTrash(trashDir: string): Promise<void> {
  await rm(trashDir, { recursive: true, force: true });
}

/** Waits until files deleted before the call no longer slow down creating new ones. */
export function settle(seconds = 35): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}
