/** Small helpers for writing files so that they appear whole or not at all. */
import { randomBytes } from "node:crypto";
import { type FileHandle, lstat, mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Writes bytes to a temporary file beside `path`, fsyncs it, and renames it over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", mode);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Writes bytes [offset, offset + length) of `bytes` at `position` of the file, all of them: write(2) may
 * write less than asked (a filling disk writes what fits and fails only on the next call), and a short
 * write taken as success left a truncated pack behind.
 */
export async function writeAll(
  handle: FileHandle,
  bytes: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await handle.write(bytes, offset + done, length - done, position + done);
    if (bytesWritten === 0) {
      // Not seen from a regular file, but it must not loop forever: as good as a full disk.
      throw Object.assign(new Error("no space left on device, write (nothing written)"), { code: "ENOSPC" });
    }
    done += bytesWritten;
  }
}

/**
 * Renames `from` to `to`, replacing what is there; adds `to` to `created` unless something was there
 * already, so that undoing (unlinking what `created` holds) never removes a file that was not this
 * caller's. The check and the rename are two steps: callers that may undo serialize their renames (a
 * publish makes them under the publish lock).
 */
export async function renameInto(from: string, to: string, created: string[]): Promise<void> {
  const existed = await lstat(to).then(
    () => true,
    () => false,
  );
  await rename(from, to);
  if (!existed) created.push(to);
}

/** fsyncs a directory so that renames into it survive a power cut; best effort. */
export async function syncDirectory(path: string): Promise<void> {
  try {
    const handle = await open(path, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}
