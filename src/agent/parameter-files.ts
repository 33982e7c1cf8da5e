/**
 * Parameters as the appliance sees them: every non-sensitive parameter in /run/collective/params.json,
 * every sensitive one as its own file under /run/collective/secrets/ on a tmpfs (mode 0400, owned by the
 * appliance's user), so that secrets never reach a disk, argv or the environment.
 */
import { chmod, chown, mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { mountTmpfs } from "./host-mounts.js";

/** `{"name": ["value", ...], "ethernet0.ip": ["10.1.2.3"]}`: values are lists, as in CVL. */
export function paramsJson(params: Readonly<Record<string, readonly string[]>>): string {
  const sorted: Record<string, readonly string[]> = {};
  for (const name of Object.keys(params).sort()) sorted[name] = params[name]!;
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

export async function writeParamsFile(
  path: string,
  params: Readonly<Record<string, readonly string[]>>,
): Promise<void> {
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, "w", 0o444);
  try {
    await handle.writeFile(paramsJson(params));
  } finally {
    await handle.close();
  }
  await chmod(temporary, 0o444);
  await rename(temporary, path);
}

/**
 * Rewrites params.json of a running machine. In place, not by rename: the file is bind-mounted into the
 * machine, and a bind mount keeps pointing at the old inode after a rename. The appliance reads it after
 * the reload signal, which comes only once this has returned.
 */
export async function rewriteParamsFile(
  path: string,
  params: Readonly<Record<string, readonly string[]>>,
): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const text = Buffer.from(paramsJson(params));
    await handle.truncate(0);
    await handle.write(text, 0, text.length, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Mounts a small tmpfs at `dir` (on the host) and writes each secret there, replacing what an earlier
 * start left. The directory is 0500 and the files 0400, both owned by the appliance's user.
 */
export async function writeSecrets(
  dir: string,
  secrets: Readonly<Record<string, Uint8Array>>,
  owner: { uid: number; gid: number },
): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mountTmpfs(dir, "size=1m,mode=0700,nodev,nosuid,noexec");
  for (const name of await readdir(dir)) {
    if (!(name in secrets)) await unlink(join(dir, name));
  }
  for (const [name, value] of Object.entries(secrets)) {
    const path = join(dir, name);
    await unlink(path).catch(() => undefined);
    const handle = await open(path, "wx", 0o400);
    try {
      await handle.writeFile(value);
    } finally {
      await handle.close();
    }
    await chown(path, owner.uid, owner.gid);
  }
  await chown(dir, owner.uid, owner.gid);
  await chmod(dir, 0o500);
}
