/**
 * Paths inside a container that come from CVL or an image (mount points, working dir, ready file). They
 * must be absolute and normalized, so that what we validate is what runc mounts; and they must not land on
 * the kernel's or Collective's own mounts. Whether the rootfs has a symlink on the way is checked on disk
 * by rootfs-path.ts once the root filesystem is mounted.
 */
import { CollectiveError } from "../errors.js";

/** Mounts a data disk may not hide or sit inside. */
const reserved = ["/proc", "/sys", "/dev", "/run/collective"];

export function checkContainerPath(path: string, what: string): string {
  const refuse = (why: string): never => {
    throw new CollectiveError("UNSAFE_PATH", `${what} ${JSON.stringify(path)} is not valid: ${why}`, {
      hint: "Use an absolute, normalized path inside the appliance, such as /var/lib/data.",
    });
  };
  if (!path.startsWith("/")) refuse("it is not absolute");
  if (/[\0\n\r]/.test(path)) refuse("it contains a control character");
  if (Buffer.byteLength(path) > 1024) refuse("it is longer than 1024 bytes");
  const segments = path.split("/").slice(1);
  if (path !== "/" && segments.some((segment) => segment === "" || segment === "." || segment === "..")) {
    refuse('it has an empty, "." or ".." segment (write it normalized, without a trailing slash)');
  }
  return path;
}

/** A mount point for a data disk: a valid path that is neither the root nor on a reserved tree. */
export function checkMountPoint(path: string, what: string): string {
  checkContainerPath(path, what);
  if (path === "/") {
    throw new CollectiveError("UNSAFE_PATH", `${what} "/" is not valid: a data disk cannot replace the root`);
  }
  for (const prefix of reserved) {
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      throw new CollectiveError(
        "UNSAFE_PATH",
        `${what} ${JSON.stringify(path)} is not valid: ${prefix} is reserved`,
      );
    }
  }
  return path;
}

/** A host path the driver passes to mount(8) options: absolute, and free of the option separators. */
export function checkHostPath(path: string, what: string): string {
  if (!path.startsWith("/") || /[\0\n\r,:\\]/.test(path) || path.split("/").includes("..")) {
    throw new CollectiveError(
      "UNSAFE_PATH",
      `${what} ${JSON.stringify(path)} is not valid: it must be absolute, without "..", ",", ":" or "\\"`,
    );
  }
  return path;
}
