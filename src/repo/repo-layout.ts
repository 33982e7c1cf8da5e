/** Creating a repository and reading its local descriptor. */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { readRegularFile } from "../fs-safety/regular-file.js";
import { generateFeed } from "./feed.js";
import { FORMAT_VERSION, paths, REPO_FORMAT, type RepoDescriptor } from "./format.js";
import { writeFileAtomic } from "./fs-atomic.js";

function corrupt(where: string, what: string): CollectiveError {
  return new CollectiveError("REPO_CORRUPT", `${where}: repo.json ${what}`, {
    hint: "the repository is damaged, or the path does not point at a Collective repository",
  });
}

export function parseDescriptor(bytes: Uint8Array, where: string): RepoDescriptor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw corrupt(where, "is not valid JSON");
  }
  // Valid JSON that is no object (null, [], "x", 3) is as unusable as invalid JSON.
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw corrupt(where, "is not a JSON object");
  const data = parsed as Partial<RepoDescriptor>;
  if (data.format !== REPO_FORMAT) {
    throw new CollectiveError(
      "NOT_A_REPOSITORY",
      `${where} is not a Collective repository (repo.json has no "format": "${REPO_FORMAT}")`,
    );
  }
  if (data.formatVersion !== FORMAT_VERSION) {
    throw new CollectiveError(
      "REPO_FORMAT_UNSUPPORTED",
      typeof data.formatVersion === "number"
        ? `${where} has repository format ${data.formatVersion}; this cui reads format ${FORMAT_VERSION}`
        : `${where}: repo.json's formatVersion is ${JSON.stringify(data.formatVersion) ?? "missing"}, not a number; this cui reads format ${FORMAT_VERSION}`,
      {
        hint: "upgrade cui",
      },
    );
  }
  if (
    typeof data.id !== "string" ||
    !Array.isArray(data.keys) ||
    data.keys.some((k) => typeof k !== "string")
  ) {
    throw corrupt(where, "lacks an id or a list of keys");
  }
  return data as RepoDescriptor;
}

export async function readLocalDescriptor(repoDir: string): Promise<RepoDescriptor> {
  const path = join(repoDir, paths.descriptor);
  let bytes: Buffer;
  try {
    // Not a plain readFile: a FIFO or a device in its place would block or never end.
    bytes = await readRegularFile(
      path,
      (kind) =>
        new CollectiveError("REPO_CORRUPT", `${path} is ${kind}, not a regular file`, {
          hint: "the repository is damaged: put back its repo.json from a copy of the repository",
        }),
    );
  } catch (error) {
    if (error instanceof CollectiveError) throw error;
    throw descriptorReadError(repoDir, error);
  }
  return parseDescriptor(bytes, repoDir);
}

/**
 * What readLocalDescriptor throws when `<repoDir>/repo.json` could not be opened or read (`error`, as
 * node:fs threw it). Only a missing repo.json (ENOENT) means "not a repository"; any other failure is
 * named as it is (the path, the system error), since a repository there may well be intact.
 */
export function descriptorReadError(repoDir: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code !== "string") return error as Error; // not a system error: a bug, shown as one
  const path = join(repoDir, paths.descriptor);
  if (code === "ENOENT") {
    return new CollectiveError(
      "NOT_A_REPOSITORY",
      `${repoDir} is not a repository (it has no ${paths.descriptor})`,
      {
        hint: `create one with: cui create ${repoDir}`,
      },
    );
  }
  // Node's message ends in the path ("EACCES: permission denied, open '<path>'"), which this names already.
  const system = (error as Error).message.replace(` '${path}'`, "");
  const [what, hint] = descriptorReadFailures(repoDir)[code] ?? [
    "it could not be read",
    "check the path, and that the repository's directory and its repo.json may be read",
  ];
  return new CollectiveError("REPO_UNREADABLE", `cannot read ${path}: ${what} (${system})`, {
    hint,
    cause: error,
  });
}

/** For a system error code: what went wrong reading a repository's repo.json, and what to do. */
const descriptorReadFailures = (repoDir: string): Record<string, [what: string, hint: string]> => ({
  ENOTDIR: [
    `${repoDir}, or a directory on the way to it, is not a directory`,
    "give the path of the repository's directory (the one holding repo.json)",
  ],
  EACCES: [
    "this user may not read it, or may not enter a directory on its path",
    "run cui as a user who may read the repository, or let that user read repo.json and enter every directory on its path",
  ],
  EPERM: [
    "the operation is not permitted",
    "run cui as a user who may read the repository, or check what forbids it (a mount option, a security module)",
  ],
  ELOOP: [
    "its path has too many levels of symbolic links (a link that points at itself, or a loop)",
    "make repo.json, and the directories on its path, real files and directories or links that end at one",
  ],
  ENAMETOOLONG: ["its path is too long", "give a shorter path to the repository"],
  EIO: [
    "an input/output error on the disk holding it",
    "the disk or filesystem is failing: check the system log (dmesg), and restore the repository from a copy if it is damaged",
  ],
  EMFILE: ["this process has too many open files", "raise the open-file limit (ulimit -n) and try again"],
  ENFILE: ["the system has too many open files", "try again when fewer files are open"],
});

/** Creates an empty repository; refuses a directory that holds anything else. */
export async function createRepository(repoDir: string, publicKey: string): Promise<RepoDescriptor> {
  const existing = await stat(repoDir).catch(() => undefined);
  if (existing !== undefined) {
    if (!existing.isDirectory())
      throw new CollectiveError("REPO_EXISTS", `${repoDir} exists and is not a directory`);
    const entries = await readdir(repoDir);
    if (entries.includes(paths.descriptor)) {
      throw new CollectiveError("REPO_EXISTS", `${repoDir} is already a repository`, {
        hint: "publish into it with cui publish",
      });
    }
    if (entries.length > 0) {
      throw new CollectiveError("REPO_EXISTS", `${repoDir} is not empty`, {
        hint: "create the repository in a new or empty directory",
      });
    }
  }
  const descriptor: RepoDescriptor = {
    format: REPO_FORMAT,
    formatVersion: FORMAT_VERSION,
    id: randomUUID(),
    created: new Date().toISOString(),
    keys: [publicKey],
  };
  try {
    for (const dir of ["versions", "packs", "objects", "tmp", "locks"])
      await mkdir(join(repoDir, dir), { recursive: true });
    await writeFileAtomic(
      join(repoDir, paths.latest),
      `${JSON.stringify({ version: 0, updated: descriptor.created })}\n`,
    );
    await writeFileAtomic(
      join(repoDir, paths.feed),
      generateFeed({ title: "Collective repository", link: ".", repository: "." }, []),
    );
    // repo.json last: a directory without it is not a repository, so a crash here leaves nothing half made.
    await writeFileAtomic(join(repoDir, paths.descriptor), `${JSON.stringify(descriptor, null, 2)}\n`);
  } catch (error) {
    // Nothing half made stays: the directory goes if this made it, else what this put in it (it was empty).
    if (existing === undefined) await rm(repoDir, { recursive: true, force: true }).catch(() => undefined);
    else
      for (const name of await readdir(repoDir).catch(() => [] as string[]))
        await rm(join(repoDir, name), { recursive: true, force: true }).catch(() => undefined);
    if (error instanceof CollectiveError || typeof (error as NodeJS.ErrnoException).code !== "string")
      throw error;
    const full = ["ENOSPC", "EDQUOT"].includes((error as NodeJS.ErrnoException).code!);
    throw new CollectiveError(
      full ? "DISK_FULL" : "REPO_CREATE",
      `cannot create a repository at ${repoDir}: ${(error as Error).message}`,
      {
        hint: full
          ? "free space on its disk, or create the repository on another one"
          : "choose a new or empty directory whose parent is a directory you may write",
        cause: error,
      },
    );
  }
  return descriptor;
}

/** The versions present on disk (directories named by a positive integer), ascending. */
export async function localVersions(repoDir: string): Promise<number[]> {
  const names = await readdir(join(repoDir, "versions")).catch(() => [] as string[]);
  return names
    .filter((n) => /^[1-9][0-9]*$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}
