/**
 * The user an appliance's process runs as: "uid", "uid:gid", "name" or "name:group", names looked up in
 * the program tree's own /etc/passwd and /etc/group (an image's USER is usually a name). The files are
 * read without following symlinks: the program tree is the maker's, and a symlink to the host's
 * /etc/shadow must not be read.
 */
import { constants } from "node:fs";
import { lstat, open } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";

export interface ProcessUser {
  readonly uid: number;
  readonly gid: number;
}

async function readTreeFile(root: string, relative: string): Promise<string | undefined> {
  const etc = await lstat(join(root, "etc")).catch(() => undefined);
  if (!etc?.isDirectory()) return undefined;
  const handle = await open(join(root, relative), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
    () => undefined,
  );
  if (handle === undefined) return undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > 4 * 1024 * 1024) return undefined;
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

/** Finds `name` in a passwd/group style file: returns [id, primary gid (passwd only)]. */
function lookup(text: string | undefined, name: string): [number, number | undefined] | undefined {
  for (const line of (text ?? "").split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) {
      const gid = fields[3] !== undefined && /^\d+$/.test(fields[3]) ? Number(fields[3]) : undefined;
      return [Number(fields[2]), gid];
    }
  }
  return undefined;
}

export async function resolveProcessUser(
  programTree: string,
  user: string | undefined,
): Promise<ProcessUser> {
  if (user === undefined || user === "") return { uid: 0, gid: 0 };
  const [userPart = "", groupPart] = user.split(":", 2);
  const fail = (what: string): never => {
    throw new CollectiveError(
      "BAD_MACHINE_SPEC",
      `user "${user}": ${what} is not in the program tree's /etc files`,
    );
  };
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) uid = Number(userPart);
  else {
    const found = lookup(await readTreeFile(programTree, "etc/passwd"), userPart) ?? fail(`user ${userPart}`);
    [uid, gid] = found;
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else
      gid = (lookup(await readTreeFile(programTree, "etc/group"), groupPart) ??
        fail(`group ${groupPart}`))[0];
  }
  // A numeric user without a group gets gid 0, as with Docker's USER 1000.
  return { uid, gid: gid ?? 0 };
}
