/**
 * Skipping an unchanged disk image when a VM appliance is published again, as quick-check.ts does for
 * the files of a directory image: when the image's size, modification time, change time and inode are
 * those recorded at the last successful publish of the same path into this repository, its block map
 * (a stream already stored) and the packs holding its chunks are taken from the record instead of reading
 * and hashing the whole image. The record lives in the repository's tmp/quick-check/ (publisher-side
 * state, like the directory records). An image changed just before or while it was read gets no record
 * (change-cutoff.ts): the next publish reads it again.
 */
import { hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ChangeCutoff } from "./change-cutoff.js";
import { writeFileAtomic } from "./fs-atomic.js";

/** What a publish stored for an image. */
export interface StoredImage {
  readonly size: number;
  readonly chunkSize: number;
  /** The block map's stream index. */
  readonly blocks: string;
  /** Chunks the disk referenced (data and block map), for the manifest's statistics. */
  readonly chunks: number;
  /** Every pack holding one of those chunks. */
  readonly packs: readonly string[];
}

interface Record extends StoredImage {
  readonly key: readonly string[];
}

export class ImageQuickCheck {
  /** The record to save; its packs are known only once the publish has finished its packs. */
  private next: { key: string[]; stored: Omit<StoredImage, "packs">; packs: () => string[] } | undefined;
  /** Taken at load(), before the image is read: an image changed since gets no record. */
  private readonly cutoff = new ChangeCutoff();

  private constructor(
    private readonly file: string,
    private readonly previous: Record | undefined,
  ) {}

  static async load(repoDir: string, imageRealPath: string): Promise<ImageQuickCheck> {
    const file = join(repoDir, "tmp", "quick-check", `image-${hash("sha256", imageRealPath, "hex")}.json`);
    let previous: Record | undefined;
    try {
      previous = JSON.parse(await readFile(file, "utf8")) as Record;
    } catch {
      // No record (first publish of this image) or an unreadable one: read the image.
    }
    return new ImageQuickCheck(file, previous);
  }

  private static key(info: BigIntStats): string[] {
    return [String(info.size), String(info.mtimeNs), String(info.ctimeNs), String(info.ino)];
  }

  /** What the last publish stored for the image when it has not changed since, else undefined. */
  lookup(info: BigIntStats): StoredImage | undefined {
    const record = this.previous;
    if (record === undefined || !Array.isArray(record.key) || !Array.isArray(record.packs)) return undefined;
    const key = ImageQuickCheck.key(info);
    return key.every((v, i) => record.key[i] === v) ? record : undefined;
  }

  record(info: BigIntStats, stored: Omit<StoredImage, "packs">, packs: () => string[]): void {
    if (this.cutoff.tooRecent(info.ctimeNs)) return;
    this.next = { key: ImageQuickCheck.key(info), stored, packs };
  }

  /** Saves the record after a successful publish. */
  async save(): Promise<void> {
    if (this.next === undefined) return;
    const { key, stored, packs } = this.next;
    const record: Record = { key, ...stored, packs: packs() };
    await writeFileAtomic(this.file, JSON.stringify(record));
  }
}
