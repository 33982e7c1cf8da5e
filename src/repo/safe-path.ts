/**
 * Paths named by a CVL file (image, vm, the disks a VM descriptor names) are relative to the file that
 * names them and must stay inside the CVL file's directory: no absolute paths, no "..", and no symlink
 * that leads out.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { CollectiveError } from "../errors.js";

/**
 * Resolves `name` (as written in `where`) against `baseDir`, checks that it stays inside `rootDir`, and
 * returns the real path. The file must exist.
 */
export async function resolveInside(
  rootDir: string,
  baseDir: string,
  name: string,
  where: string,
): Promise<string> {
  if (name === "" || isAbsolute(name) || name.split(/[\\/]/).includes("..")) {
    throw new CollectiveError(
      "PATH_ESCAPES",
      `${where}: "${name}" must be a relative path inside ${rootDir}, without ".."`,
      {
        hint: "put the image or disk beside the CVL file (or below it) and name it relatively",
      },
    );
  }
  const candidate = resolve(baseDir, name);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (error) {
    throw new CollectiveError(
      "FILE_MISSING",
      `${where}: "${name}" (${candidate}) cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      {
        hint: "check the path; it is relative to the file that names it",
      },
    );
  }
  const realRoot = await realpath(rootDir);
  const rel = relative(realRoot, real);
  if (rel === "" ? false : rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel)) {
    throw new CollectiveError(
      "PATH_ESCAPES",
      `${where}: "${name}" leads to ${real} through a symlink, outside ${realRoot}`,
      {
        hint: "copy the file into the CVL file's directory instead of linking to it",
      },
    );
  }
  return real;
}

/** The path of `real` relative to `rootDir` in POSIX form, for storing in the manifest. */
export async function relativeInside(rootDir: string, file: string): Promise<string> {
  // Both resolved: a CVL file reached through a symlinked directory is still inside its own directory,
  // and nothing that resolves outside gets a "../" path (which would be written outside the version).
  const root = await realpath(rootDir);
  const inside = relative(root, await realpath(file));
  if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new CollectiveError("PATH_OUTSIDE", `${file} is not inside ${rootDir}`, {
      hint: "an appliance's files live in its CVL file's directory or below it",
    });
  }
  return inside.split(sep).join("/");
}
