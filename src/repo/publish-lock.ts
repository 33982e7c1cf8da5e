/**
 * The publish lock (locks/publish.lock), held only while a publisher numbers, renames and announces its
 * version. Created with O_EXCL; a lock whose process is gone (same host) or that is older than ten
 * minutes is stale and broken. Correctness does not rest on it alone: renaming a version directory onto
 * an existing one fails, so even a wrongly broken lock cannot overwrite a version.
 */

import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";

const STALE_MS = 10 * 60 * 1000;

interface LockOwner {
  pid: number;
  host: string;
  created: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isStale(owner: LockOwner | undefined, now: number): boolean {
  if (owner === undefined) return true;
  if (owner.host === hostname() && !alive(owner.pid)) return true;
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
    try {
      current = JSON.parse(await readFile(path, "utf8")) as LockOwner;
    } catch {
      current = undefined; // vanished, or being written: treat an unreadable lock as stale only if it stays so
    }
    if (current !== undefined && isStale(current, Date.now())) {
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
        `${path} is held by process ${current?.pid ?? "?"} on ${current?.host ?? "?"}`,
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
