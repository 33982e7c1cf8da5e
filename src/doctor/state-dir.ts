/** The state directory must be writable (or creatable), with room for layers, disks and logs. */
import { constants } from "node:fs";
import { access, mkdtemp, rmdir, stat, statfs } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Check, result } from "./check.js";

const fix = "run as root, or pass --state-dir DIR (or set COLLECTIVE_STATE_DIR) to a directory you can write";
const minimumFree = 1024 ** 3;

export const stateDirCheck: Check = {
  name: "state directory",
  run: async (ctx) => {
    const name = "state directory";
    const dir = ctx.stateDir;
    const existing = await nearestExisting(dir);
    if (!(await stat(existing)).isDirectory())
      return result(name, true, "broken", `${existing} is not a directory`, fix);
    if (existing === dir) {
      // A real write: access() says yes to root even where a write would fail.
      try {
        await rmdir(await mkdtemp(join(dir, ".cui-doctor-")));
        return result(name, true, "ok", `${dir} is writable`);
      } catch (error) {
        return result(name, true, "broken", `${dir} is not writable: ${(error as Error).message}`, fix);
      }
    }
    try {
      await access(existing, constants.W_OK);
      return result(
        name,
        true,
        "ok",
        `${dir} does not exist yet; cui will create it (${existing} is writable)`,
      );
    } catch {
      return result(name, true, "broken", `${dir} does not exist and ${existing} is not writable`, fix);
    }
  },
};

export const diskSpaceCheck: Check = {
  name: "disk space",
  run: async (ctx) => {
    const name = "disk space";
    const existing = await nearestExisting(ctx.stateDir);
    const fs = await statfs(existing);
    const free = fs.bavail * fs.bsize;
    const shown = `${(free / minimumFree).toFixed(1)} GiB free for ${ctx.stateDir}`;
    if (free >= minimumFree) return result(name, false, "ok", shown);
    return result(
      name,
      false,
      "warning",
      `${shown} (under 1 GiB)`,
      "free space there, or move the state with --state-dir",
    );
  },
};

/** The directory itself or its closest ancestor that exists. */
async function nearestExisting(path: string): Promise<string> {
  for (let p = path; ; p = dirname(p)) {
    const found = await stat(p).then(
      () => true,
      () => false,
    );
    if (found || p === dirname(p)) return p;
  }
}
