/**
 * Skipping unchanged files when a directory image is published again, as git's index does: a file whose
 * size, modification time, change time and inode are those recorded at the last publish of the same
 * directory keeps its chunks without being read. The change time cannot be set by users, so a rewrite
 * that restores the old mtime is still noticed. The record lives in the repository's tmp/quick-check/
 * (publisher-side state; `cui repo serve` does not serve tmp/).
 *
 * A second, small record goes further: the directory's fingerprint (dir-source.ts: every entry's stat)
 * with what that publish stored for the whole tree (its listing and the packs holding its chunks). When
 * the fingerprint is the same, the tree is reused as a whole, as image-quick-check.ts reuses an unchanged
 * disk image: no file's record is looked at, no listing is made and no attribute is read. The per-file
 * record (1.7 MB of JSON for a tree of 5,000 files) is then not even parsed. The second record also keeps
 * the paths the fingerprint covered, so the walk that compares it stats them without reading a directory.
 * An archive image (a tar, a docker save or OCI archive) or an OCI layout directory has only this record
 * (an archive's fingerprint is its own stat), and the record keeps the image's config too.
 *
 * Neither record vouches for an entry that changed just before or while it was read (change-cutoff.ts):
 * such a file gets no record, and a tree holding one gets no tree record; the next publish reads them.
 */
import { hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ChangeCutoff } from "./change-cutoff.js";
import type { TreeFingerprint } from "./dir-source.js";
import type { ImageConfig } from "./format.js";
import { writeFileAtomic } from "./fs-atomic.js";

type FileRecord = [size: string, mtimeNs: string, ctimeNs: string, ino: string, chunks: string[]];

/** What a publish stored for a whole directory image. */
export interface StoredTree {
  /** Logical size: the bytes of all regular files. */
  readonly size: number;
  readonly entries: number;
  /** The listing's stream index. */
  readonly listing: string;
  /** Chunks the disk referenced (files and listing), for the manifest's statistics. */
  readonly chunks: number;
  /** Every pack holding one of those chunks. */
  readonly packs: readonly string[];
  /** An OCI or docker image's defaults (an archive's or an OCI layout's), kept with its tree. */
  readonly config?: ImageConfig;
}

interface TreeRecord extends StoredTree {
  /**
   * Bumped when what a fingerprint covers, what a listing holds or what the record keeps changes: older
   * records are ignored (format 2 added the paths).
   */
  readonly format: typeof treeRecordFormat;
  readonly fingerprint: string;
  /** The paths the fingerprint covers, in its order. */
  readonly paths: readonly string[];
}

const treeRecordFormat = 2;

export class QuickCheck {
  /** The files' record of the last publish: loaded by loadFiles(), only when the tree is stored anew. */
  private previous = new Map<string, FileRecord>();
  private readonly next = new Map<string, FileRecord>();
  private filesLoaded = false;
  /** Whether any file was recorded other than as the previous record had it. */
  private changed = false;
  private nextTree:
    | { fingerprint: TreeFingerprint; stored: Omit<StoredTree, "packs">; packs: () => readonly string[] }
    | undefined;
  /** Taken at load(), before the publish reads anything: files changed since get no record. */
  private readonly cutoff = new ChangeCutoff();

  private constructor(
    private readonly file: string,
    private readonly treeFile: string,
    private readonly previousTree: TreeRecord | undefined,
  ) {}

  static async load(repoDir: string, imageRealPath: string): Promise<QuickCheck> {
    const base = join(repoDir, "tmp", "quick-check", hash("sha256", imageRealPath, "hex"));
    let tree: TreeRecord | undefined;
    try {
      const parsed = JSON.parse(await readFile(`${base}.tree.json`, "utf8")) as TreeRecord;
      if (parsed.format === treeRecordFormat && Array.isArray(parsed.packs) && Array.isArray(parsed.paths))
        tree = parsed;
    } catch {
      // No record (the tree was not published whole from here before) or an unreadable one.
    }
    return new QuickCheck(`${base}.json`, `${base}.tree.json`, tree);
  }

  /** The paths of the recorded tree (to compute its fingerprint again), or undefined without a record. */
  recordedPaths(): readonly string[] | undefined {
    return this.previousTree?.paths;
  }

  /** What the last publish stored for the whole tree when its fingerprint's digest is the same, else undefined. */
  unchangedTree(digest: string): StoredTree | undefined {
    return this.previousTree?.fingerprint === digest ? this.previousTree : undefined;
  }

  /** Remembers what this publish stores for the whole tree (saved by save()). */
  recordTree(
    fingerprint: TreeFingerprint,
    stored: Omit<StoredTree, "packs">,
    packs: () => readonly string[],
  ): void {
    this.nextTree = { fingerprint, stored, packs };
  }

  /** Reads the files' record; lookup() finds nothing before. */
  async loadFiles(): Promise<void> {
    if (this.filesLoaded) return;
    this.filesLoaded = true;
    try {
      this.previous = new Map(
        Object.entries(JSON.parse(await readFile(this.file, "utf8")) as { [path: string]: FileRecord }),
      );
    } catch {
      // No record (first publish of this directory) or an unreadable one: read every file.
    }
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
    if (this.cutoff.tooRecent(info.ctimeNs)) {
      this.changed = true; // left out: the next publish reads the file
      return;
    }
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

  /**
   * Saves the records after a successful publish: the files' one unless it is the record loaded (nothing
   * changed) or was not needed (the tree was reused whole), and the tree's.
   */
  async save(): Promise<void> {
    if (this.filesLoaded && (this.changed || this.next.size !== this.previous.size))
      await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.next)));
    if (this.nextTree === undefined) return;
    const { fingerprint, stored, packs } = this.nextTree;
    const record: TreeRecord = {
      format: treeRecordFormat,
      fingerprint: fingerprint.digest,
      ...stored,
      packs: packs(),
      paths: fingerprint.paths,
    };
    // The same digest means the same paths: compared without them (thousands of strings).
    const summary = (tree: TreeRecord | undefined) => tree && JSON.stringify({ ...tree, paths: undefined });
    if (summary(record) === summary(this.previousTree)) return;
    await writeFileAtomic(this.treeFile, JSON.stringify(record));
  }
}
