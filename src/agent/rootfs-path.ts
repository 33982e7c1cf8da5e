/**
 * Looking at a path inside a container's root filesystem from the host (through the mounted overlay)
 * without ever following a symlink: an appliance's tree is the maker's, and a symlink in it must not
 * redirect a data disk mount or a ready-file check to somewhere else.
 */
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";

/**
 * Checks each existing component of `containerPath` (absolute, normalized) under `rootfs`: each must be a
 * real directory (the last may be anything but a symlink). Returns the host path and whether it exists.
 */
export async function lookInRootfs(
  rootfs: string,
  containerPath: string,
  what: string,
): Promise<{ hostPath: string; exists: boolean }> {
  const segments = containerPath.split("/").filter((segment) => segment !== "");
  let current = rootfs;
  for (const [index, segment] of segments.entries()) {
    current = join(current, segment);
    const info = await lstat(current).catch(() => undefined);
    if (info === undefined) return { hostPath: join(rootfs, ...segments), exists: false };
    const shown = `/${segments.slice(0, index + 1).join("/")}`;
    if (info.isSymbolicLink()) {
      throw new CollectiveError(
        "UNSAFE_PATH",
        `${what} ${containerPath}: ${shown} is a symlink in the appliance`,
        {
          hint: "Mount points and ready files must be reached through real directories; use the symlink's target path.",
        },
      );
    }
    if (index < segments.length - 1 && !info.isDirectory()) {
      throw new CollectiveError("UNSAFE_PATH", `${what} ${containerPath}: ${shown} is not a directory`);
    }
  }
  return { hostPath: current, exists: true };
}
