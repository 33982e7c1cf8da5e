/**
 * The files a machine component keeps under the state dir, and the few file-system steps the attic and
 * the snapshots share: where a machine's state dir and data disks are, whether any of it is in use (a
 * mount, or a loop device holding an image), durable renames (fsync of the file and its directory) and
 * readable, sortable, unique entry names.
 */
import { constants } from "node:fs";
import { open, readdir, readFile, realpath, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { mountsUnder } from "../agent/host-mounts.js";
import { CollectiveError } from "../errors.js";
import { exec } from "../sys/exec.js";

export interface MachineDirs {
  /** `<instances>/<instanceId>/machines/<machineId>`: copy-on-write layer, logs, params, driver record. */
  readonly stateDir: string;
  /** `<instances>/<instanceId>/disks/<machineId>`: the data disk images, `<device>.img`. */
  readonly disksDir: string;
}

export function machineDirs(instancesDir: string, instanceId: string, machineId: string): MachineDirs {
  return {
    stateDir: join(instancesDir, instanceId, "machines", machineId),
    disksDir: join(instancesDir, instanceId, "disks", machineId),
  };
}

export interface DiskFile {
  /** The image's file name, `<device>.img`. */
  readonly file: string;
  /** Its apparent size in bytes (sparse images allocate far less). */
  readonly size: number;
}

/** The data disk images in `dir` (regular `*.img` files, by name); none when the dir does not exist. */
export async function diskImages(dir: string): Promise<DiskFile[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [] as string[];
    throw error;
  });
  const disks: DiskFile[] = [];
  for (const file of names.filter((n) => n.endsWith(".img")).sort()) {
    const info = await stat(join(dir, file));
    if (info.isFile()) disks.push({ file, size: info.size });
  }
  return disks;
}

/** Files whose loop devices are attached (from /sys, so no root and no losetup needed to ask). */
async function loopBackingFiles(): Promise<string[]> {
  const devices = await readdir("/sys/block").catch(() => [] as string[]);
  const files: string[] = [];
  for (const device of devices.filter((d) => d.startsWith("loop"))) {
    const text = await readFile(join("/sys/block", device, "loop", "backing_file"), "utf8").catch(
      () => undefined,
    );
    if (text !== undefined && text.trim() !== "") files.push(text.trim().replace(/ \(deleted\)$/, ""));
  }
  return files;
}

/**
 * Refuses (DATA_DISK_IN_USE) when anything under the machine's state dir is mounted (its root, its
 * data disks) or a loop device holds one of its images: copying or moving a disk a kernel is writing
 * gives a torn copy. The caller stops the machine first.
 */
export async function assertNotInUse(what: string, dirs: MachineDirs): Promise<void> {
  const mounts = await mountsUnder(dirs.stateDir);
  const images = await diskImages(dirs.disksDir);
  const attached: string[] = [];
  if (images.length > 0) {
    const backing = new Set(await loopBackingFiles());
    for (const image of images) {
      const path = join(dirs.disksDir, image.file);
      const real = await realpath(path).catch(() => path);
      if (backing.has(path) || backing.has(real)) attached.push(path);
    }
  }
  if (mounts.length > 0 || attached.length > 0) {
    const held = [...mounts.map((m) => `${m} is mounted`), ...attached.map((a) => `${a} is attached`)];
    throw new CollectiveError("DATA_DISK_IN_USE", `${what}: ${held.join("; ")}`, {
      hint: "stop the component first ('cui stop FILE COMPONENT'); its disks are released when it stops",
    });
  }
}

/** fsync a file or directory (a rename is durable only once its directory is synced). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncParent(path: string): Promise<void> {
  await fsyncPath(dirname(path));
}

/**
 * Copies a disk image with copy-on-write where the file system allows (reflink: instant, no space) and
 * as a sparse copy otherwise (holes stay holes), then syncs it. `to` must not be the final name: callers
 * copy to a temporary name and rename.
 */
export async function copyDiskImage(from: string, to: string): Promise<void> {
  await exec("cp", ["--reflink=auto", "--sparse=always", "--", from, to], { timeoutMs: 6 * 3600_000 });
  await fsyncPath(to);
}

/** `2026-11-23T17:45:01.123Z` → `20261123T174501Z`: sorts as time does, reads as a date. */
export function compactStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.[0-9]{3}Z$/, "Z")
    .replace(/[-:]/g, "");
}

/** Letters, digits, '.', '_', '-' only, no leading dot or dash and no "..", at most `max` characters. */
export function sanitizeName(text: string, max = 40): string {
  const clean = text
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/[.-]*-[.-]*/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/^[.-]+/, "")
    .slice(0, max)
    .replace(/[.-]+$/, "");
  return clean === "" ? "x" : clean;
}

/** The form every attic and snapshot id has (checked before an id from a request becomes a path). */
export const ENTRY_ID = /^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,160}$/;

export function isEntryId(id: string): boolean {
  return ENTRY_ID.test(id) && !id.includes("..") && !id.includes("/");
}

/** `base`, or `base-2`, `base-3`... : the first that `taken` says is free. */
export async function uniqueName(base: string, taken: (name: string) => Promise<boolean>): Promise<string> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!(await taken(name))) return name;
  }
}
