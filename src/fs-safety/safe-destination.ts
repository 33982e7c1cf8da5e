/**
 * Writing entries of an untrusted tree (a manifest's file list, an archive) into a destination directory
 * without ever touching anything outside it. Paths are checked as text (entry-path.ts) and then on disk:
 * every directory on the way must be a real directory, not a symlink, so "a symlink, then a file through
 * it" fails; leaves are created exclusively and without following symlinks, so nothing existing is
 * overwritten; hard links may only point at regular files already inside the destination.
 *
 * The destination is assumed to be a fresh directory that only this process writes (a temp dir that is
 * renamed into place when complete), so a directory once checked stays checked.
 *
 * Directories and symlinks are checked and made with synchronous calls: a root filesystem has about one
 * directory per five files, and two thread-pool round trips per directory (lstat, mkdir) cost more than
 * the calls themselves.
 */
import { constants, lstatSync, mkdirSync, openSync, symlinkSync } from "node:fs";
import { type FileHandle, link, lstat, open } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { entryPathSegments } from "./entry-path.js";

export class SafeDestination {
  /** Directories (relative, normalized) known to be real directories inside the root. */
  private readonly checkedDirectories = new Set<string>([""]);

  constructor(readonly root: string) {}

  /** Creates a directory (and missing parents). An existing real directory is fine; anything else is not. */
  async mkdir(path: string, mode = 0o755): Promise<string> {
    const segments = entryPathSegments(path);
    await this.ensureDirectory(segments, mode, path);
    return join(this.root, ...segments);
  }

  /** Creates a new file for writing; fails if anything exists at the path. The caller closes the handle. */
  async create(path: string, mode = 0o644): Promise<FileHandle> {
    const { absolute } = await this.prepareLeaf(path);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    return open(absolute, flags, mode);
  }

  /**
   * Like create, but synchronous and returning a file descriptor, for writing many small files without
   * a thread-pool round trip per call. Only when every directory on the way was checked already (made
   * by mkdir or an earlier entry); otherwise returns undefined and the caller uses create.
   */
  createSync(path: string, mode = 0o644): number | undefined {
    const segments = entryPathSegments(path);
    if (segments.length === 0) this.refuse(path, "it names the destination itself");
    const parent = segments.slice(0, -1).join("/");
    if (!this.checkedDirectories.has(parent)) return undefined;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    return openSync(join(this.root, ...segments), flags, mode);
  }

  /** Writes a whole new file. */
  async writeFile(path: string, data: Uint8Array, mode = 0o644): Promise<string> {
    const handle = await this.create(path, mode);
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    return join(this.root, ...entryPathSegments(path));
  }

  /**
   * Creates a symlink. Its target is data, not followed here (an absolute target such as /usr/bin/python3
   * is normal in a root filesystem); what makes it safe is that later entries never pass through it.
   */
  async symlink(path: string, target: string): Promise<string> {
    if (target.includes("\0") || target === "")
      this.refuse(path, "its symlink target is empty or has a NUL byte");
    const { absolute } = await this.prepareLeaf(path);
    symlinkSync(target, absolute);
    return absolute;
  }

  /** Creates a hard link to a regular file that is already inside the destination. */
  async hardlink(path: string, existing: string): Promise<string> {
    const existingSegments = entryPathSegments(existing, "hard link target");
    if (existingSegments.length === 0) this.refuse(path, "its hard link target is the root");
    await this.checkDirectory(existingSegments.slice(0, -1), path);
    const existingAbsolute = join(this.root, ...existingSegments);
    const info = await lstat(existingAbsolute).catch(() => undefined);
    if (!info?.isFile()) {
      this.refuse(
        path,
        `its hard link target ${JSON.stringify(existing)} is not a regular file in the destination`,
      );
    }
    const { absolute } = await this.prepareLeaf(path);
    await link(existingAbsolute, absolute);
    return absolute;
  }

  /** Checks the path and creates its parent directories; returns where the leaf goes. */
  private async prepareLeaf(path: string): Promise<{ absolute: string }> {
    const segments = entryPathSegments(path);
    if (segments.length === 0) this.refuse(path, "it names the destination itself");
    await this.ensureDirectory(segments.slice(0, -1), 0o755, path);
    return { absolute: join(this.root, ...segments) };
  }

  private async ensureDirectory(segments: readonly string[], mode: number, forPath: string): Promise<void> {
    for (let depth = 1; depth <= segments.length; depth++) {
      const relative = segments.slice(0, depth).join("/");
      if (this.checkedDirectories.has(relative)) continue;
      const absolute = join(this.root, relative);
      // mkdir first: in a fresh destination the directory is new, and an lstat before every mkdir
      // cost a syscall per directory. Whatever is there already (EEXIST) is looked at as before.
      try {
        mkdirSync(absolute, { mode });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        const info = lstatSync(absolute);
        if (info.isSymbolicLink())
          this.refuse(forPath, `${JSON.stringify(relative)} on its way is a symlink`);
        if (!info.isDirectory())
          this.refuse(forPath, `${JSON.stringify(relative)} on its way is not a directory`);
      }
      this.checkedDirectories.add(relative);
    }
  }

  /** Like ensureDirectory but never creates: every directory on the way must already be a real one. */
  private async checkDirectory(segments: readonly string[], forPath: string): Promise<void> {
    for (let depth = 1; depth <= segments.length; depth++) {
      const relative = segments.slice(0, depth).join("/");
      if (this.checkedDirectories.has(relative)) continue;
      const info = await lstat(join(this.root, relative)).catch(() => undefined);
      if (!info?.isDirectory()) {
        this.refuse(
          forPath,
          `${JSON.stringify(relative)} on the way to its hard link target is not a directory`,
        );
      }
      this.checkedDirectories.add(relative);
    }
  }

  private refuse(path: string, why: string): never {
    throw new CollectiveError(
      "UNSAFE_PATH",
      `refusing to write ${JSON.stringify(path)} under ${this.root}: ${why}`,
      {
        hint: "The tree being extracted tries to write outside its destination; it is damaged or hostile.",
      },
    );
  }
}
