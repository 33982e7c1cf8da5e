/**
 * Writes a version's program disks out, for tests only: a plain reading of the format, straight from a
 * RepoReader, that the tests hold the publish side and the host cache's materializers (src/cache/, used by
 * `cui pull`) against. Trees become directories with modes, owners, times, links, devices and xattrs;
 * block images sparse raw files. Nothing is
 * written outside the destination: each path is re-checked, and parents must be directories created here.
 */
import { spawn } from "node:child_process";
import { chmod, lchown, link, lutimes, mkdir, open, symlink, truncate } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { normalizeEntryPath, parentOf } from "./entry-path.js";
import type { BlockDisk, Manifest, TreeDisk, TreeEntry } from "./format.js";
import { writeAll } from "./fs-atomic.js";
import { isHole, type RepoReader } from "./repo-reader.js";

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(
            new CollectiveError(
              "MATERIALIZE_FAILED",
              `${command} ${args.join(" ")}: ${Buffer.concat(err).toString().trim()}`,
            ),
          ),
    );
  });
}

export async function materializeTree(
  reader: RepoReader,
  manifest: Manifest,
  disk: TreeDisk,
  dest: string,
): Promise<void> {
  const entries = await reader.treeListing(manifest, disk.listing);
  const types = new Map<string, TreeEntry["type"]>();
  const where = `${reader.url} version ${manifest.version}`;
  await mkdir(dest, { recursive: true });
  const target = (entry: TreeEntry): string => {
    const path = normalizeEntryPath(entry.path, where);
    if (path !== entry.path)
      throw new CollectiveError(
        "LISTING_CORRUPT",
        `${where}: listing path "${entry.path}" is not normalised`,
      );
    if (path !== "." && types.get(parentOf(path)) !== "dir") {
      throw new CollectiveError(
        "LISTING_CORRUPT",
        `${where}: "${path}" lies under something that is not a directory of the tree`,
      );
    }
    if (types.has(path)) throw new CollectiveError("LISTING_CORRUPT", `${where}: "${path}" is listed twice`);
    types.set(path, entry.type);
    return path === "." ? dest : join(dest, path);
  };
  const hardlinks: Array<{ path: string; entry: TreeEntry }> = [];
  for (const entry of entries) {
    const path = target(entry);
    switch (entry.type) {
      case "dir":
        if (entry.path !== ".") await mkdir(path);
        break;
      case "file": {
        const handle = await open(path, "wx", 0o600);
        try {
          const chunks = (entry.chunks ?? []).map((h) => Buffer.from(h, "hex"));
          let written = 0;
          for await (const chunk of reader.chunks(manifest, chunks)) {
            await writeAll(handle, chunk, 0, chunk.length, written);
            written += chunk.length;
          }
          if (written !== (entry.size ?? 0))
            throw new CollectiveError(
              "LISTING_CORRUPT",
              `${where}: "${entry.path}" has ${written} bytes, listed as ${entry.size}`,
            );
        } finally {
          await handle.close();
        }
        break;
      }
      case "symlink":
        await symlink(entry.target ?? "", path);
        break;
      case "hardlink":
        hardlinks.push({ path, entry });
        continue;
      case "fifo":
        await run("mkfifo", ["-m", "600", "--", path]);
        break;
      case "char":
      case "block":
        await run("mknod", [
          "-m",
          "600",
          "--",
          path,
          entry.type === "char" ? "c" : "b",
          String(entry.rdev?.[0] ?? 0),
          String(entry.rdev?.[1] ?? 0),
        ]);
        break;
    }
    await applyMetadata(path, entry);
  }
  for (const { path, entry } of hardlinks) {
    const linked = entry.link === undefined ? undefined : normalizeEntryPath(entry.link, where);
    if (linked === undefined || types.get(linked) !== "file") {
      throw new CollectiveError(
        "LISTING_CORRUPT",
        `${where}: hard link "${entry.path}" does not point to a regular file of the tree`,
      );
    }
    await link(join(dest, linked), path);
  }
  // Directory times last: creating their contents changed them.
  for (const entry of [...entries].reverse()) {
    if (entry.type !== "dir") continue;
    const path = entry.path === "." ? dest : join(dest, entry.path);
    await chmod(path, entry.mode);
    await lutimes(path, timeOf(entry), timeOf(entry));
  }
}

function timeOf(entry: TreeEntry): number {
  return entry.mtime + entry.mtimeNsec / 1e9;
}

async function applyMetadata(path: string, entry: TreeEntry): Promise<void> {
  await lchown(path, entry.uid, entry.gid);
  // Directories get their mode last (a read-only directory would refuse its own contents).
  if (entry.type !== "symlink" && entry.type !== "dir") await chmod(path, entry.mode);
  for (const [name, value] of Object.entries(entry.xattrs ?? {})) {
    await run("setfattr", ["-h", "-n", name, "-v", `0s${value}`, "--", path]);
  }
  if (entry.type !== "dir") await lutimes(path, timeOf(entry), timeOf(entry));
}

export async function materializeBlock(
  reader: RepoReader,
  manifest: Manifest,
  disk: BlockDisk,
  destFile: string,
): Promise<void> {
  const map = await reader.blockMap(manifest, disk.blocks);
  const handle = await open(destFile, "w", 0o644);
  try {
    const wanted: Array<{ index: number; hash: Buffer }> = [];
    map.forEach((hash, index) => {
      if (!isHole(hash)) wanted.push({ index, hash });
    });
    let k = 0;
    for await (const chunk of reader.chunks(
      manifest,
      wanted.map((w) => w.hash),
    )) {
      await writeAll(handle, chunk, 0, chunk.length, wanted[k]!.index * disk.chunkSize);
      k++;
    }
  } finally {
    await handle.close();
  }
  await truncate(destFile, disk.size);
}

/** Materialises every disk of a version under dest: trees as dest/<name>/, images as dest/<name>.raw. */
export async function materializeVersion(
  reader: RepoReader,
  manifest: Manifest,
  dest: string,
): Promise<string[]> {
  await mkdir(dest, { recursive: true });
  const written: string[] = [];
  for (const disk of manifest.disks) {
    if (!/^[A-Za-z0-9:_.-]+$/.test(disk.name) || disk.name.startsWith(".")) {
      throw new CollectiveError(
        "MANIFEST_INVALID",
        `${reader.url} version ${manifest.version}: disk name "${disk.name}" is not safe`,
      );
    }
    const name = disk.name.replace(/:/g, "-");
    if (disk.shape === "tree") {
      await materializeTree(reader, manifest, disk, join(dest, name));
      written.push(join(dest, name));
    } else {
      await materializeBlock(reader, manifest, disk, join(dest, `${name}.raw`));
      written.push(join(dest, `${name}.raw`));
    }
  }
  return written;
}
