/**
 * The publish lock (locks/publish.lock), held only while a publisher numbers, renames and announces its
 * version. Created with O_EXCL, then filled with its owner; a lock whose process is gone (same host), that
 * is older than ten minutes, or that is still unreadable seconds after it was made (its publisher was
 * killed between creating and filling it) is stale and broken. Correctness does not rest on it alone:
 * renaming a version directory onto an existing one fails, so even a wrongly broken lock cannot
 * overwrite a version.
 */

import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { processExists } from "../sys/process-exists.js";

const STALE_MS = 10 * 60 * 1000;
/**
 * How long a lock may stay empty or unparseable: its owner writes a few bytes right after creating it,
 * so one that stays so was left by a publisher killed in between (seen in the kill test).
 */
const UNREADABLE_STALE_MS = 5_000;

interface LockOwner {
  pid: number;
  host: string;
  created: number;
}

function isStale(owner: LockOwner | undefined, now: number): boolean {
  if (owner === undefined) return true;
  if (owner.host === hostname() && !processExists(owner.pid)) return true;
  return now - owner.created > STALE_MS;
}

export async function withPublishLock<T>(
  repoDir: string,
  action: () => Promise<T>,
  timeoutMs = 60_000,
): Promise<T> {
  const dir = join(repoDir, "locks");
  await mkdir(dir, { recursive: true });
  const path = join(dir, "publish.lock");
  const owner: LockOwner = { pid: process.pid, host: hostname(), created: Date.now() };
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const handle = await open(path, "wx", 0o644);
      await handle.writeFile(JSON.stringify(owner));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let current: LockOwner | undefined;
    let stale: boolean;
    try {
      current = JSON.parse(await readFile(path, "utf8")) as LockOwner;
      stale = isStale(current, Date.now());
    } catch {
      // Vanished (try again at once), or not filled yet: stale only once it has stayed so a while.
      const made = await stat(path).then(
        (info) => info.mtimeMs,
        () => undefined,
      );
      if (made === undefined) continue;
      stale = Date.now() - made > UNREADABLE_STALE_MS;
    }
    if (stale) {
      // Move it aside under a unique name: of several breakers only one succeeds in moving this file.
      const aside = join(dir, `stale-${randomBytes(4).toString("hex")}`);
      if (
        await rename(path, aside).then(
          () => true,
          () => false,
        )
      )
        await unlink(aside).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new CollectiveError(
        "REPO_LOCKED",
        current === undefined
          ? `${path} is held by a publisher that has not recorded itself in it yet`
          : `${path} is held by process ${current.pid} on ${current.host}`,
        {
          hint: "another publish is under way; wait for it, or remove the lock file if that process is gone",
        },
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await action();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}
