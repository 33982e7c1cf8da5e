/**
 * Skipping unchanged files when a directory image is published again, as git's index does: a file whose
 * size, modification time, change time and inode are those recorded at the last publish of the same
 * directory keeps its chunks without being read. The change time cannot be set by users, so a rewrite
 * that restores the old mtime is still noticed. The record lives in the repository's tmp/quick-check/
 * (publisher-side state; `cui repo serve` does not serve tmp/).
 */
import { hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./fs-atomic.js";

type FileRecord = [size: string, mtimeNs: string, ctimeNs: string, ino: string, chunks: string[]];

export class QuickCheck {
  private readonly next = new Map<string, FileRecord>();
  /** Whether any file was recorded other than as the previous record had it. */
  private changed = false;

  private constructor(
    private readonly file: string,
    private readonly previous: Map<string, FileRecord>,
  ) {}

  static async load(repoDir: string, imageRealPath: string): Promise<QuickCheck> {
    const file = join(repoDir, "tmp", "quick-check", `${hash("sha256", imageRealPath, "hex")}.json`);
    let previous = new Map<string, FileRecord>();
    try {
      previous = new Map(
        Object.entries(JSON.parse(await readFile(file, "utf8")) as { [path: string]: FileRecord }),
      );
    } catch {
      // No record (first publish of this directory) or an unreadable one: read every file.
    }
    return new QuickCheck(file, previous);
  }

  private static key(info: BigIntStats): [string, string, string, string] {
    return [String(info.size), String(info.mtimeNs), String(info.ctimeNs), String(info.ino)];
  }

  /** The chunks recorded for an unchanged file, or undefined. */
  lookup(path: string, info: BigIntStats): string[] | undefined {
    const record = this.previous.get(path);
    if (
      record === undefined ||
      record[0] !== String(info.size) ||
      record[1] !== String(info.mtimeNs) ||
      record[2] !== String(info.ctimeNs) ||
      record[3] !== String(info.ino)
    )
      return undefined;
    return record[4];
  }

  record(path: string, info: BigIntStats, chunks: string[]): void {
    // The chunks lookup() returned (the same array) mean the file's record is the previous one: keep it
    // rather than build an equal one.
    const previous = this.previous.get(path);
    if (previous !== undefined && previous[4] === chunks) {
      this.next.set(path, previous);
      return;
    }
    this.changed = true;
    this.next.set(path, [...QuickCheck.key(info), chunks]);
  }

  /** Saves the record after a successful publish (unless it is the record loaded: nothing changed). */
  async save(): Promise<void> {
    if (!this.changed && this.next.size === this.previous.size) return;
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.next)));
  }
}
