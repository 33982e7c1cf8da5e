/**
 * What a pull says when the system refuses a write or read of its own (not the repository's fault): a
 * full disk, a cache or destination it may not write. Without this, such an error escaped as a bug
 * ("internal error ... ENOSPC"), naming neither the directory nor what to do.
 */
import { stat } from "node:fs/promises";
import { dirname, sep } from "node:path";
import { CollectiveError, isCollectiveError } from "../errors.js";

export interface PullPlaces {
  /** The repository's URL. */
  readonly repository: string;
  readonly dest: string;
  readonly cacheDir: string;
}

/** `error` as the CollectiveError a user can act on when it is a system error, else `error` itself. */
export async function pullIoError(error: unknown, places: PullPlaces): Promise<unknown> {
  if (isCollectiveError(error) || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code !== "string" || !/^E[A-Z]+$/.test(code)) return error;
  const { repository, dest, cacheDir } = places;
  const kept = `Chunks the cache had recorded before this are not fetched again; nothing was written at ${dest}.`;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new CollectiveError(
      "DISK_FULL",
      `cannot pull ${repository} into ${dest}: ${await fullDisk(error, places)} is full (${error.message})`,
      {
        hint: `Free space there (or give --cache a directory on another disk) and pull again. ${kept}`,
        cause: error,
      },
    );
  }
  const path = (error as NodeJS.ErrnoException).path;
  const denied = code === "EACCES" || code === "EPERM" || code === "EROFS";
  return new CollectiveError(
    "PULL_IO",
    `cannot pull ${repository} into ${dest}${path === undefined ? "" : ` (at ${path})`}: ${error.message}`,
    {
      hint: denied
        ? `Pull as a user who may write ${cacheDir} and ${dirname(dest)}, or choose other directories (--cache, the destination). ${kept}`
        : `Check the disk holding ${cacheDir} and ${dest} (dmesg may say more) and pull again. ${kept}`,
      cause: error,
    },
  );
}

/** Which disk filled up: the system error names no path for a write through an open file. */
async function fullDisk(error: NodeJS.ErrnoException, { dest, cacheDir }: PullPlaces): Promise<string> {
  const [cacheDevice, destDevice] = await Promise.all([deviceOf(cacheDir), deviceOf(dirname(dest))]);
  if (cacheDevice !== undefined && cacheDevice === destDevice)
    return `the disk holding the cache ${cacheDir} and ${dest}`;
  const path = error.path;
  if (path !== undefined && (path === cacheDir || path.startsWith(cacheDir + sep)))
    return `the disk holding the cache ${cacheDir}`;
  if (path?.startsWith(dirname(dest) + sep)) return `the disk holding ${dest}`;
  return `the disk holding the cache ${cacheDir} or the one holding ${dest}`;
}

/** The filesystem holding `path`, or its nearest ancestor that exists (a cache not made yet). */
async function deviceOf(path: string): Promise<number | undefined> {
  for (let at = path; ; at = dirname(at)) {
    const device = await stat(at).then(
      (info) => info.dev,
      () => undefined,
    );
    if (device !== undefined || at === dirname(at)) return device;
  }
}
