/**
 * Resolving a path that came from outside (a URL path, a user's argument) to a file that is really inside
 * a root directory, following symlinks only as far as they stay inside. Used by `cui repo serve`: a
 * repository may symlink between its own files, but never out to /etc.
 */
import { realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { entryPathSegments } from "./entry-path.js";

/**
 * Returns the real absolute path of `path` under `realRoot` (which must itself be a realpath), or
 * undefined when the path is unsafe as text, does not exist, or resolves outside the root.
 */
export async function resolveInside(realRoot: string, path: string): Promise<string | undefined> {
  let segments: string[];
  try {
    segments = entryPathSegments(path);
  } catch {
    return undefined;
  }
  const real = await realpath(join(realRoot, ...segments)).catch(() => undefined);
  if (real === undefined) return undefined;
  return isInside(realRoot, real) ? real : undefined;
}

/** Whether `path` is `root` or below it (both absolute and normalized). */
export function isInside(root: string, path: string): boolean {
  const prefix = root.endsWith(sep) ? root : root + sep;
  return path === root || path.startsWith(prefix);
}
