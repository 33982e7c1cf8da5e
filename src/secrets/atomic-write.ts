/**
 * Replacing a file so that a crash or a full disk leaves either the old file or the new one, never half
 * of either: write a temporary file in the same directory, fsync it, rename it over the target, fsync the
 * directory. The file is created with `mode` (0600 for the store) and never exists with a wider one.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  readonly mode?: number;
  /** Fail (EEXIST) instead of replacing an existing file. */
  readonly exclusive?: boolean;
}

export function writeFileAtomic(path: string, data: string | Buffer, options: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", options.mode ?? 0o600);
  let placed = false;
  try {
    try {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link() refuses an existing target atomically, which rename() cannot.
    if (options.exclusive) linkSync(temp, path);
    else renameSync(temp, path);
    placed = !options.exclusive;
    syncDirectory(dir);
  } finally {
    if (!placed) {
      try {
        unlinkSync(temp);
      } catch {
        // Already gone: nothing to clean up.
      }
    }
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
