import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { pullIoError } from "./pull-io-error.js";

let onDisk: string;
/** /dev/shm is another filesystem than the temporary directory (tmpfs against the disk here). */
let inMemory: string;

beforeAll(async () => {
  onDisk = await mkdtemp(join(tmpdir(), "collective-pull-io-"));
  inMemory = await mkdtemp("/dev/shm/collective-pull-io-");
});

afterAll(async () => {
  await rm(onDisk, { recursive: true, force: true });
  await rm(inMemory, { recursive: true, force: true });
});

function systemError(code: string, message: string, path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code, ...(path ? { path } : {}) });
}

describe("pullIoError", () => {
  const repository = "http://repo.example/dns";
  const cases: Array<{
    name: string;
    error: () => unknown;
    /** Cache and destination on one filesystem (else the cache in memory, the destination on disk). */
    together: boolean;
    code?: string;
    message?: (cache: string, dest: string) => string;
  }> = [
    {
      name: "a full disk under both, through an open file (no path)",
      error: () => systemError("ENOSPC", "no space left on device, write"),
      together: true,
      code: "DISK_FULL",
      message: (cache, dest) =>
        `cannot pull ${repository} into ${dest}: the disk holding the cache ${cache} and ${dest} is full (ENOSPC: no space left on device, write)`,
    },
    {
      name: "a full cache disk, named by the path",
      error: () =>
        systemError("ENOSPC", "no space left on device, open", join(inMemory, "cache", "packs", "x")),
      together: false,
      code: "DISK_FULL",
      message: (cache, dest) =>
        `cannot pull ${repository} into ${dest}: the disk holding the cache ${cache} is full (ENOSPC: no space left on device, open)`,
    },
    {
      name: "a full destination disk, named by the path",
      error: () => systemError("EDQUOT", "disk quota exceeded, open", join(onDisk, ".out.partial-1", "a")),
      together: false,
      code: "DISK_FULL",
      message: (_cache, dest) =>
        `cannot pull ${repository} into ${dest}: the disk holding ${dest} is full (EDQUOT: disk quota exceeded, open)`,
    },
    {
      name: "a full disk, not known which of two",
      error: () => systemError("ENOSPC", "no space left on device, write"),
      together: false,
      code: "DISK_FULL",
      message: (cache, dest) =>
        `cannot pull ${repository} into ${dest}: the disk holding the cache ${cache} or the one holding ${dest} is full (ENOSPC: no space left on device, write)`,
    },
    {
      name: "a directory it may not write",
      error: () => systemError("EACCES", "permission denied, mkdir", join(onDisk, "cache", "packs")),
      together: true,
      code: "PULL_IO",
      message: (_cache, dest) =>
        `cannot pull ${repository} into ${dest} (at ${join(onDisk, "cache", "packs")}): EACCES: permission denied, mkdir`,
    },
    {
      name: "a CollectiveError, as it is",
      error: () => new CollectiveError("CHUNK_CORRUPT", "bad"),
      together: true,
    },
    { name: "a bug, as it is", error: () => new TypeError("x is undefined"), together: true },
  ];
  it.each(cases)("$name", async ({ error, together, code, message }) => {
    const cacheDir = join(together ? onDisk : inMemory, "cache");
    const dest = join(onDisk, "out");
    const original = error();
    const result = await pullIoError(original, { repository, dest, cacheDir });
    if (code === undefined) {
      expect(result).toBe(original);
      return;
    }
    expect(result).toBeInstanceOf(CollectiveError);
    expect(result).toMatchObject({ code, message: message!(cacheDir, dest), cause: original });
    expect((result as CollectiveError).hint).toContain(`nothing was written at ${dest}`);
  });
});
