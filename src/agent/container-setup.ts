/**
 * Preparing a container instance on the host before runc runs it, and releasing it afterwards. Every step
 * is idempotent (a mount that exists is kept), so a retried or adopted start converges; release removes
 * every kernel object setup made (mounts, loop devices) and keeps files (upper layer, logs, data disks).
 */
import { chmod, chown, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { effectiveCapabilities } from "./capabilities.js";
import { detachDataDisk, ensureDataDiskImage, mountDataDisk } from "./data-disk.js";
import type { MachineSpec } from "./driver.js";
import { mountOverlay, unmountTree } from "./host-mounts.js";
import type { InstanceLayout } from "./instance-layout.js";
import { buildOciSpec } from "./oci-spec.js";
import { writeParamsFile, writeSecrets } from "./parameter-files.js";
import { type ProcessUser, resolveProcessUser } from "./process-user.js";
import { lookInRootfs } from "./rootfs-path.js";

export interface PreparedInstance {
  readonly user: ProcessUser;
}

async function makeDirectories(layout: InstanceLayout): Promise<void> {
  for (const dir of [layout.work, layout.rootfs, layout.bundle, layout.status, layout.disks]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
  // The upper dir's own mode becomes the mode of the container's "/": it must let every user through.
  await mkdir(layout.upper, { recursive: true, mode: 0o755 });
  await chmod(layout.upper, 0o755);
  await mkdir(layout.logs, { recursive: true, mode: 0o700 });
  await mkdir(layout.secrets, { recursive: true, mode: 0o700 });
}

/** Mounts, disks, parameter files and config.json; everything runc needs to run the instance. */
export async function prepareInstance(
  spec: MachineSpec,
  layout: InstanceLayout,
  cgroupsPath: string,
): Promise<PreparedInstance> {
  await makeDirectories(layout);
  const user = await resolveProcessUser(spec.programPath, spec.process.user);
  await mountOverlay(spec.programPath, layout.upper, layout.work, layout.rootfs);
  // Mount points must be reached through real directories of the appliance's tree (no symlinks): checked
  // on the merged root, which is what runc will resolve them in.
  for (const disk of spec.dataDisks ?? [])
    await lookInRootfs(layout.rootfs, disk.mount, `data disk ${disk.device} mount point`);
  const diskSources = new Map<string, string>();
  for (const disk of spec.dataDisks ?? []) {
    await ensureDataDiskImage(disk, user);
    const target = join(layout.disks, disk.device);
    await mountDataDisk(disk, target);
    diskSources.set(disk.device, target);
  }
  await writeParamsFile(layout.params, spec.params ?? {});
  const secrets = spec.secrets ?? {};
  // Without sensitive parameters the (empty) directory is bound as it is: no tmpfs to mount and release.
  if (Object.keys(secrets).length > 0) await writeSecrets(layout.secrets, secrets, user);
  const capabilities = effectiveCapabilities(spec.capabilities);
  const config = buildOciSpec({ spec, layout, user, capabilities, cgroupsPath, diskSources });
  await writeFile(layout.config, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return { user };
}

/** A fresh status dir for each (re)start: no ready file or socket from the previous run counts. */
export async function resetStatusDir(layout: InstanceLayout, user: ProcessUser): Promise<void> {
  await rm(layout.status, { recursive: true, force: true });
  await mkdir(layout.status, { mode: 0o755 });
  await chown(layout.status, user.uid, user.gid);
}

/** Unmounts data disks, secrets and the overlay, and frees the loop devices. Files stay. */
export async function releaseInstance(
  layout: InstanceLayout,
  dataDiskImages: readonly string[],
): Promise<void> {
  await unmountTree(layout.disks);
  for (const image of dataDiskImages) await detachDataDisk(image);
  await unmountTree(layout.secrets);
  await unmountTree(layout.rootfs);
}
