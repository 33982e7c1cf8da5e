/**
 * Data disks: sparse ext4 image files, created and formatted at first start and never recreated while
 * they exist; attached to a loop device and mounted on the host, then bound into the container. A disk
 * must never be attached twice (two instances writing one ext4 would destroy it), so attaching refuses an
 * image that already has a loop device, unless it is this instance's own mount (an adopted machine).
 */
import { constants } from "node:fs";
import { mkdir, open, rename, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { CollectiveError } from "../errors.js";
import { exec } from "../sys/exec.js";
import type { DataDisk } from "./driver.js";
import { isMounted } from "./host-mounts.js";

/** Creates and formats the image if it does not exist (root dir owned by `owner`). Returns whether it did. */
export async function ensureDataDiskImage(
  disk: DataDisk,
  owner: { uid: number; gid: number },
): Promise<boolean> {
  const existing = await stat(disk.imagePath).catch(() => undefined);
  if (existing !== undefined) {
    if (!existing.isFile()) {
      throw new CollectiveError(
        "DATA_DISK_INVALID",
        `data disk image ${disk.imagePath} is not a regular file`,
      );
    }
    return false;
  }
  await mkdir(dirname(disk.imagePath), { recursive: true });
  // Format a temporary file and rename it into place: a crash mid-mkfs never leaves a half disk under the
  // real name, which a later start would otherwise trust.
  const temporary = `${disk.imagePath}.creating`;
  await unlink(temporary).catch(() => undefined);
  const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.truncate(disk.sizeMiB * 1024 * 1024);
  } finally {
    await handle.close();
  }
  // The disk's root belongs to the appliance's user, so a service that does not run as root can write it.
  const extended = `lazy_itable_init=1,root_owner=${owner.uid}:${owner.gid}`;
  await exec("mkfs.ext4", ["-q", "-F", "-L", disk.device.slice(0, 16), "-E", extended, temporary], {
    timeoutMs: 120_000,
  });
  await rename(temporary, disk.imagePath);
  return true;
}

/** Loop devices that currently hold `imagePath`. */
export async function loopDevicesOf(imagePath: string): Promise<string[]> {
  const { stdout } = await exec("losetup", ["-j", imagePath, "-O", "NAME", "-n"], { okStatuses: [0, 1] });
  return stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("/dev/loop"));
}

/** Attaches and mounts the image at `target` (a host dir), unless this instance already has it there. */
export async function mountDataDisk(disk: DataDisk, target: string): Promise<void> {
  if (await isMounted(target)) return;
  const holders = await loopDevicesOf(disk.imagePath);
  if (holders.length > 0) {
    throw new CollectiveError(
      "DATA_DISK_IN_USE",
      `data disk ${disk.imagePath} is already attached (${holders.join(", ")}): refusing to attach it twice`,
      { hint: "Stop the machine that uses it first, or detach the loop device if nothing does." },
    );
  }
  await mkdir(target, { recursive: true });
  const { stdout } = await exec("losetup", ["--find", "--show", disk.imagePath]);
  const device = stdout.trim();
  try {
    await exec("mount", ["-t", "ext4", "-o", "nodev,nosuid", device, target]);
  } catch (error) {
    await exec("losetup", ["-d", device]).catch(() => undefined);
    throw error;
  }
  // Detaching a mounted loop device marks it autoclear: the kernel frees it on unmount, so no loop
  // device outlives its mount even if the agent dies between the two.
  await exec("losetup", ["-d", device]);
}

/**
 * Waits for the loop device of an unmounted image to go (the kernel clears autoclear devices
 * asynchronously), then detaches whatever still holds it, so that the next start can attach it again.
 */
export async function detachDataDisk(imagePath: string): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    if ((await loopDevicesOf(imagePath)).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  for (const device of await loopDevicesOf(imagePath)) {
    await exec("losetup", ["-d", device], { okStatuses: [0, 1] });
  }
}
