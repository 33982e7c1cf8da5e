/**
 * A root filesystem directory as a tree: walks it without following symlinks, stores file contents as
 * chunks, and records modes, owners, times, hard links, device nodes and extended attributes.
 */
// Synchronous metadata calls and small reads on purpose: the walk is sequential, and a round trip through
// libuv's thread pool per call made publishing a tree of small files wait more than it worked.
import { createHash } from "node:crypto";
import {
  type BigIntStats,
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  type Stats,
} from "node:fs";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { ChangeCutoff } from "./change-cutoff.js";
import type { ChunkStore } from "./chunk-store.js";
import type { TreeEntry } from "./format.js";
import type { QuickCheck } from "./quick-check.js";
import { storeBuffer, storeFile } from "./store-content.js";
import type { TreeBuilder } from "./tree-builder.js";
import { readTreeXattrs } from "./xattrs.js";

const SMALL_FILE = 1 << 20;

/**
 * Small files are read into this one buffer: the store copies what it keeps, and the walk stores one file
 * at a time. A fresh buffer per file (readFileSync) made the kernel fault in new pages for every file and
 * left the garbage collector a gigabyte of buffers to sweep per GiB of tree.
 */
const smallFileBuffer = Buffer.allocUnsafe(SMALL_FILE + 1);

/**
 * A small file's bytes, as a view of smallFileBuffer valid until the next call. `size` is what lstat
 * said: a first read that returns exactly that many bytes, short of the buffer, has the file as lstat saw
 * it, so the read that would return 0 to confirm the end is skipped (a syscall per file). A file that
 * grew since is read on, as before.
 */
function readSmallFile(path: string, size: number): Buffer {
  const fd = openSync(path, "r");
  try {
    let length = 0;
    for (;;) {
      const read = readSync(fd, smallFileBuffer, length, smallFileBuffer.length - length, null);
      if (read === 0 || (length === 0 && read === size)) return smallFileBuffer.subarray(0, length + read);
      length += read;
      if (length === smallFileBuffer.length) return readFileSync(path); // it grew since lstat
    }
  } finally {
    closeSync(fd);
  }
}

function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/**
 * A directory image's fingerprint: the digest of every entry's path, type, mode, owners, size, times,
 * inode, link count and device, in the order the tree lists them, and those paths. Equal for two walks
 * when nothing in the tree changed in between: any change to a file's data or metadata (extended
 * attributes included) sets its change time, which users cannot set back, and adding, removing or
 * renaming an entry sets its directory's. So an equal digest means the tree stored last time
 * (quick-check.ts), and that its entries are still the paths recorded: a walk that only looks can stat
 * those instead of reading every directory (fingerprintPaths).
 */
export interface TreeFingerprint {
  readonly digest: string;
  readonly paths: readonly string[];
}

class Fingerprint {
  private readonly digest = createHash("sha256");
  // Each entry as bytes (its stat's numbers as doubles, then its path), gathered into one buffer hashed
  // as it fills: formatting the numbers as text was a fifth of the walk.
  private readonly record = Buffer.allocUnsafe(64 * 1024);
  private readonly view = new DataView(this.record.buffer, this.record.byteOffset, this.record.length);
  private used = 0;
  private readonly paths: string[] = [];
  /** Set when an entry changed too recently for its stat to vouch for what was read (change-cutoff.ts). */
  private tooRecent = false;

  /** `cutoff`: for a walk that reads what it stats (addDirectory), which entries it can vouch for. */
  constructor(private readonly cutoff?: ChangeCutoff) {}

  /** Makes room for an entry's record (the path has under 4 KiB of UTF-8: lstat took it whole). */
  private reserve(path: string): void {
    if (this.used + 8 * 10 + 4 + 3 * path.length <= this.record.length) return;
    this.digest.update(this.record.subarray(0, this.used));
    this.used = 0;
  }

  private number(value: number): void {
    this.view.setFloat64(this.used, value, true);
    this.used += 8;
  }

  private path(path: string): void {
    this.paths.push(path);
    const length = this.record.write(path, this.used + 4);
    this.view.setUint32(this.used, length, true);
    this.used += 4 + length;
  }

  addStats(path: string, info: Stats): void {
    this.reserve(path);
    const { mode, uid, gid, size, mtimeMs, ctimeMs, ino, nlink, rdev, dev } = info;
    for (const value of [mode, uid, gid, size, mtimeMs, ctimeMs, ino, nlink, rdev, dev]) this.number(value);
    this.path(path);
  }

  /**
   * The same numbers from exact stats (addDirectory's walk), so that both walks agree: times as node's
   * Stats makes them, seconds * 1e3 + nanoseconds / 1e6 in doubles. The modification time comes split
   * already (the walk needs it so for the listing); BigInt arithmetic is kept to the change time's.
   */
  addBigIntStats(path: string, info: BigIntStats, mtime: number, mtimeNsec: number): void {
    this.reserve(path);
    if (this.cutoff?.tooRecent(info.ctimeNs)) this.tooRecent = true;
    this.number(Number(info.mode));
    this.number(Number(info.uid));
    this.number(Number(info.gid));
    this.number(Number(info.size));
    this.number(milliseconds(mtime, mtimeNsec));
    this.number(milliseconds(Number(info.ctimeNs / 1_000_000_000n), Number(info.ctimeNs % 1_000_000_000n)));
    this.number(Number(info.ino));
    this.number(Number(info.nlink));
    this.number(Number(info.rdev));
    this.number(Number(info.dev));
    this.path(path);
  }

  /** The fingerprint; undefined when an entry changed too recently for a record to rely on it. */
  finish(): TreeFingerprint | undefined {
    this.digest.update(this.record.subarray(0, this.used));
    const digest = this.digest.digest("hex");
    return this.tooRecent ? undefined : { digest, paths: this.paths };
  }
}

/**
 * Milliseconds as node's Stats gives them, from a time split into seconds and nanoseconds as BigInt
 * division splits it (both truncated toward zero): the kernel's nanoseconds are never negative.
 */
function milliseconds(seconds: number, nanoseconds: number): number {
  return nanoseconds < 0
    ? (seconds - 1) * 1e3 + (nanoseconds + 1e9) / 1e6
    : seconds * 1e3 + nanoseconds / 1e6;
}

/**
 * The fingerprint's digest of a directory image whose entries were `paths` at its last publish (see
 * TreeFingerprint), by a walk that only looks: an lstat of each path, without following symlinks and
 * without reading a directory (an entry added or removed since changes its directory's stat, so the
 * digest differs). Times are taken as milliseconds (exact nanoseconds as BigInt made the walk half again
 * as slow, most of it garbage). Undefined when a path is gone or cannot be looked at: the tree changed,
 * and the walk that stores it reports what it cannot read.
 */
export function fingerprintPaths(root: string, paths: readonly string[]): string | undefined {
  const fingerprint = new Fingerprint();
  for (const path of paths) {
    let info: Stats;
    try {
      info = lstatSync(path === "." ? root : `${root}/${path}`);
    } catch {
      return undefined;
    }
    fingerprint.addStats(path, info);
  }
  return fingerprint.finish()!.digest;
}

/**
 * The fingerprint of an image whose contents are read otherwise: an archive (its own stat, as the one
 * entry "."), or an OCI layout directory (a walk that only looks: readdir and lstat, in the order
 * addDirectory walks). Equal to what fingerprintPaths computes while nothing changes. Taken before the
 * contents are read; undefined when an entry changed too recently for a record to vouch for what is read
 * next (change-cutoff.ts).
 */
export function imageFingerprint(root: string): TreeFingerprint | undefined {
  const fingerprint = new Fingerprint(new ChangeCutoff());
  const visit = (absolute: string, path: string): void => {
    const info = lstatSync(absolute, { bigint: true });
    const mtime = Number(info.mtimeNs / 1_000_000_000n);
    fingerprint.addBigIntStats(path, info, mtime, Number(info.mtimeNs % 1_000_000_000n));
    if (!info.isDirectory()) return;
    for (const name of readdirSync(absolute).sort())
      visit(join(absolute, name), path === "." ? name : `${path}/${name}`);
  };
  visit(root, ".");
  return fingerprint.finish();
}

/**
 * Stores a directory image's files as chunks and adds its entries to `tree`; returns the directory's
 * fingerprint, computed on the way (undefined when an entry changed too recently to vouch for it:
 * change-cutoff.ts).
 */
export async function addDirectory(
  root: string,
  store: ChunkStore,
  tree: TreeBuilder,
  progress?: (bytes: number) => void,
  quick?: QuickCheck,
): Promise<TreeFingerprint | undefined> {
  // Taken before anything is read: entries changed since (or just before) cannot vouch for what was read.
  const cutoff = new ChangeCutoff();
  // getfattr walks the tree in its own process while this one walks it too (waiting for it first left
  // this thread idle for 20-30 ms); the attributes are added to the entries at the end.
  const xattrsRead = readTreeXattrs(root);
  xattrsRead.catch(() => undefined); // awaited below, after the walk
  await quick?.loadFiles();
  await store.load(); // reuse() looks chunks up in the packs' indexes
  const entries: Array<[absolute: string, entry: TreeEntry]> = [];
  const add = (absolute: string, entry: TreeEntry): void => {
    tree.set(entry);
    entries.push([absolute, entry]);
  };
  const inodes = new Map<string, string>();
  const fingerprint = new Fingerprint(cutoff);
  const walk = async (absolute: string, path: string): Promise<void> => {
    let info: BigIntStats;
    try {
      info = lstatSync(absolute, { bigint: true });
    } catch (error) {
      throw new CollectiveError(
        "IMAGE_UNREADABLE",
        `cannot read ${absolute}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    const base: TreeEntry = {
      path,
      type: "dir",
      mode: Number(info.mode & 0o7777n),
      uid: Number(info.uid),
      gid: Number(info.gid),
      mtime: Number(info.mtimeNs / 1_000_000_000n),
      mtimeNsec: Number(info.mtimeNs % 1_000_000_000n),
    };
    fingerprint.addBigIntStats(path, info, base.mtime, base.mtimeNsec);
    if (info.isDirectory()) {
      add(absolute, base);
      const names = readdirSync(absolute).sort();
      for (const name of names) await walk(join(absolute, name), path === "." ? name : `${path}/${name}`);
      return;
    }
    if (info.isSymbolicLink()) {
      add(absolute, { ...base, type: "symlink", target: readlinkSync(absolute) });
      return;
    }
    if (info.isFile()) {
      const inode = `${info.dev}:${info.ino}`;
      const first = info.nlink > 1n ? inodes.get(inode) : undefined;
      if (first !== undefined) {
        add(absolute, { ...base, type: "hardlink", link: first });
        return;
      }
      if (info.nlink > 1n) inodes.set(inode, path);
      const known = quick?.lookup(path, info);
      const content =
        known !== undefined && store.reuse(known)
          ? { chunks: known, size: Number(info.size) }
          : info.size <= BigInt(SMALL_FILE)
            ? await storeBuffer(store, readSmallFile(absolute, Number(info.size)))
            : await storeFile(store, absolute);
      quick?.record(path, info, content.chunks);
      progress?.(content.size);
      add(absolute, { ...base, type: "file", size: content.size, chunks: content.chunks });
      return;
    }
    if (info.isCharacterDevice() || info.isBlockDevice()) {
      add(absolute, {
        ...base,
        type: info.isCharacterDevice() ? "char" : "block",
        rdev: [major(info.rdev), minor(info.rdev)],
      });
      return;
    }
    if (info.isFIFO()) {
      add(absolute, { ...base, type: "fifo" });
    }
    // Sockets belong to a running system, not to an image: not stored.
  };
  await walk(root, ".");
  const xattrs = await xattrsRead;
  if (xattrs.size > 0) {
    for (const [absolute, entry] of entries) {
      const attrs = xattrs.get(absolute);
      if (attrs !== undefined && Object.keys(attrs).length > 0) entry.xattrs = attrs;
    }
  }
  return fingerprint.finish();
}
