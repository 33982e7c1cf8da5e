/**
 * Writing a tree disk (a container root filesystem) from its listing into an empty directory, through
 * SafeDestination so that a hostile listing cannot write outside it. Contents come from the cache in
 * windows of a few MiB (many small files per read, big files in pieces); metadata (owners, modes, times)
 * is applied afterwards, deepest first, so a read-only directory never blocks writing into it.
 */
import { execFile } from "node:child_process";
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  utimesSync,
} from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { CollectiveError } from "../errors.js";
import { SafeDestination } from "../fs-safety/safe-destination.js";
import type { TreeEntry } from "../repo/format.js";
import { mapConcurrent } from "../repo/map-concurrent.js";
import type { ChunkRef, ChunkSource, ReadArena } from "./chunk-source.js";
import { writevFully, writevFullySync } from "./direct-io.js";

const run = promisify(execFile);
const windowBytes = 8 * 1024 * 1024;
/** Files written at once: enough to keep libuv's file system threads busy with small files. */
const filesInFlight = 16;
/** Files up to this size are written with synchronous calls (see writeSmallFileSync). */
const syncFileBytes = 256 * 1024;

export interface TreeWriteOptions {
  /** Remove write permission everywhere (a shared, read-only tree in the cache). */
  readonly readOnly: boolean;
}

/** What could not be reproduced as stored (not running as root, or no tool for it). */
export interface TreeWriteReport {
  files: number;
  skippedDevices: number;
  skippedOwners: number;
  skippedXattrs: number;
}

interface FilePiece {
  readonly entry: TreeEntry;
  readonly refs: ChunkRef[];
}

/** The chunk references of every file, checked against the files' sizes. */
export function planTreeFiles(source: ChunkSource, entries: readonly TreeEntry[]): FilePiece[] {
  const files: FilePiece[] = [];
  const hash = Buffer.allocUnsafe(32); // each chunk's hash, decoded here in turn: no Buffer per chunk
  for (const entry of entries) {
    if (entry.type !== "file") continue;
    const refs = (entry.chunks ?? []).map((hex) => {
      hash.write(hex, "hex"); // the listing's parser checked it is 64 hex digits
      return source.locate(hash);
    });
    const total = refs.reduce((sum, ref) => sum + source.rawLength(ref), 0);
    if (total !== entry.size) {
      throw new CollectiveError(
        "LISTING_INVALID",
        `file ${JSON.stringify(entry.path)} in ${source.context.repository} version ${source.context.version} has chunks of ${total} bytes but a size of ${entry.size}`,
        { hint: "The repository is damaged; run `cui repo verify` on it." },
      );
    }
    files.push({ entry, refs });
  }
  return files;
}

export async function writeTree(
  source: ChunkSource,
  entries: readonly TreeEntry[],
  files: readonly FilePiece[],
  root: string,
  options: TreeWriteOptions,
): Promise<TreeWriteReport> {
  const destination = new SafeDestination(root);
  const isRoot = process.getuid?.() === 0;
  const report: TreeWriteReport = {
    files: files.length,
    skippedDevices: 0,
    skippedOwners: 0,
    skippedXattrs: 0,
  };
  const modeOf = (entry: TreeEntry): number => (options.readOnly ? entry.mode & ~0o222 : entry.mode);
  const timeOf = (entry: TreeEntry): number => entry.mtime + entry.mtimeNsec / 1e9;
  // Entries made here already have this owner: chown only those that differ (a root filesystem's files
  // are mostly root's; two syscalls fewer each).
  const made = isRoot ? ownerOfNewEntries(root) : undefined;
  /**
   * Whether the entry's owner must be set; what cannot be applied is counted. Owner before mode, since
   * chown clears setuid bits.
   */
  const account = (entry: TreeEntry): boolean => {
    if (entry.xattrs !== undefined && Object.keys(entry.xattrs).length > 0) report.skippedXattrs++;
    if (!isRoot && (entry.uid !== process.getuid?.() || entry.gid !== process.getgid?.()))
      report.skippedOwners++;
    return isRoot && (made === undefined || entry.uid !== made.uid || entry.gid !== made.gid);
  };
  const fileMetadata = async (entry: TreeEntry, file: FileHandle | number): Promise<void> => {
    if (typeof file === "number") {
      if (account(entry)) fchownSync(file, entry.uid, entry.gid);
      fchmodSync(file, modeOf(entry));
      futimesSync(file, timeOf(entry), timeOf(entry));
      return;
    }
    if (account(entry)) await file.chown(entry.uid, entry.gid);
    await file.chmod(modeOf(entry));
    await file.utimes(timeOf(entry), timeOf(entry));
  };
  const contents = new Map(files.map((file) => [file.entry.path, file]));
  // Where every window of file contents is read (each is written out before the next is read).
  const arena: ReadArena = { buffer: Buffer.allocUnsafe(0) };
  const pending: FilePiece[] = [];
  for (const entry of entries) {
    if (entry.path === ".") continue;
    switch (entry.type) {
      case "dir":
        await destination.mkdir(entry.path, 0o700);
        break;
      case "file":
        pending.push(contents.get(entry.path)!);
        break;
      case "symlink":
        await destination.symlink(entry.path, entry.target!);
        break;
      case "hardlink":
        await writeFiles(source, destination, pending.splice(0), fileMetadata, arena);
        await destination.hardlink(entry.path, entry.link!);
        break;
      case "char":
      case "block":
      case "fifo":
        if (isRoot) await makeNode(destination, entry);
        else report.skippedDevices++;
        break;
    }
  }
  await writeFiles(source, destination, pending, fileMetadata, arena);
  // The rest, deepest first: a directory's own mode and times are set after everything inside it.
  // Synchronous calls: three thread-pool round trips per directory and symlink cost more than the calls.
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    const device = entry.type === "char" || entry.type === "block" || entry.type === "fifo";
    if (entry.type === "hardlink" || entry.type === "file" || (device && !isRoot)) continue;
    const path = entry.path === "." ? root : join(root, entry.path);
    if (account(entry)) lchownSync(path, entry.uid, entry.gid);
    if (entry.type === "symlink") {
      lutimesSync(path, timeOf(entry), timeOf(entry));
      continue;
    }
    chmodSync(path, modeOf(entry));
    utimesSync(path, timeOf(entry), timeOf(entry));
  }
  return report;
}

/**
 * Writes files' contents, reading chunks from the cache a window at a time and writing the window's
 * files concurrently (they are independent: their directories exist already). A file's owner, mode and
 * times are set through its open handle, so the metadata pass skips files.
 */
async function writeFiles(
  source: ChunkSource,
  destination: SafeDestination,
  files: readonly FilePiece[],
  metadata: (entry: TreeEntry, file: FileHandle | number) => Promise<void>,
  arena: ReadArena,
): Promise<void> {
  const open = new Map<number, { handle: FileHandle; position: number }>();
  let file = 0;
  let chunk = 0;
  try {
    while (file < files.length) {
      // The window: chunks from position (file, chunk) on, up to windowBytes; grouped by file.
      const groups: WindowGroup[] = [];
      const refs: ChunkRef[] = [];
      let bytes = 0;
      while (file < files.length && bytes < windowBytes) {
        const fileRefs = files[file]!.refs;
        const group = { file, first: chunk, count: 0, start: refs.length };
        while (chunk < fileRefs.length && bytes < windowBytes) {
          const ref = fileRefs[chunk++]!;
          refs.push(ref);
          group.count++;
          bytes += source.rawLength(ref);
        }
        groups.push(group);
        if (chunk < fileRefs.length) break;
        file++;
        chunk = 0;
      }
      // Every window is read into the same memory: it is written out before the next window is read.
      const chunks = await source.read(refs, arena);
      await mapConcurrent(groups, filesInFlight, (group) => writeGroup(group, chunks));
    }
  } finally {
    await Promise.all([...open.values()].map((state) => state.handle.close()));
  }

  /** Writes one file's chunks of the window: the whole file, or a piece of a big one. */
  async function writeGroup(group: WindowGroup, chunks: Buffer[]): Promise<void> {
    const piece = files[group.file]!;
    const parts = chunks.slice(group.start, group.start + group.count);
    const whole = group.first === 0 && group.count === piece.refs.length;
    if (whole && (piece.entry.size ?? 0) <= syncFileBytes) {
      if (await writeSmallFileSync(destination, piece.entry, parts, metadata)) return;
    }
    let state = open.get(group.file);
    if (state === undefined) {
      state = { handle: await destination.create(piece.entry.path, 0o600), position: 0 };
      open.set(group.file, state);
    }
    if (parts.length > 0) {
      // All of it, or an error: a short write (a disk filling up) left the file cut off, silently.
      await writevFully(state.handle, parts, state.position);
      state.position += parts.reduce((sum, part) => sum + part.length, 0);
    }
    if (group.first + group.count === piece.refs.length) {
      open.delete(group.file);
      try {
        await metadata(piece.entry, state.handle);
      } finally {
        await state.handle.close();
      }
    }
  }
}

/** A file's chunks within one window: `count` of them from its chunk `first`, at `start` in the window. */
interface WindowGroup {
  readonly file: number;
  readonly first: number;
  count: number;
  readonly start: number;
}

/**
 * Writes a small file with synchronous calls: for the thousands of small files of a root filesystem,
 * five thread-pool round trips per file cost more than the writes. False when the file's directory was
 * not checked yet (then the caller takes the asynchronous path).
 */
async function writeSmallFileSync(
  destination: SafeDestination,
  entry: TreeEntry,
  parts: Buffer[],
  metadata: (entry: TreeEntry, file: number) => Promise<void>,
): Promise<boolean> {
  const fd = destination.createSync(entry.path, 0o600);
  if (fd === undefined) return false;
  try {
    const written = writevFullySync(fd, parts, 0);
    if (written !== (entry.size ?? 0))
      throw new Error(`short write to ${entry.path}: ${written} of ${entry.size} bytes`);
    await metadata(entry, fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * The owner every entry made under `dir` gets, when it is certain: the process's effective ids, if `dir`
 * (which the pull made a moment ago) got them. A directory made in a setgid directory, or on a filesystem
 * mounted with grpid, takes that directory's group, and so does everything made in it; some filesystems
 * give new entries a fixed owner (NFS's squashed root, vfat's uid=). Directories of the tree are made
 * without setgid (every directory's mode is set after everything in it), so they pass on nothing else.
 */
function ownerOfNewEntries(dir: string): { uid: number; gid: number } | undefined {
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  if (uid === undefined || gid === undefined) return undefined;
  const info = lstatSync(dir);
  if (info.uid !== uid || info.gid !== gid) return undefined;
  return { uid, gid };
}

async function makeNode(destination: SafeDestination, entry: TreeEntry): Promise<void> {
  // Node has no mknod(2); the coreutils tool does it. Arguments are an array: no shell, no quoting.
  const path = await destination.mkdir(entry.path.split("/").slice(0, -1).join("/"));
  const target = join(path, entry.path.split("/").pop()!);
  const kind = entry.type === "char" ? "c" : entry.type === "block" ? "b" : "p";
  const args = kind === "p" ? [target, "p"] : [target, kind, String(entry.rdev![0]), String(entry.rdev![1])];
  await run("mknod", ["--", ...args]);
}
