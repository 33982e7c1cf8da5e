/**
 * readLocalDescriptor when repo.json cannot be read: only a missing one means "not a repository"; any
 * other failure is named as it is. Errors root cannot cause on a real file (EACCES, EIO, ...) come from a
 * stand-in for readRegularFile; a real directory that is a file (ENOTDIR) and a link loop (ELOOP) are in
 * repo-layout.test.ts.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { CollectiveError } from "../errors.js";
import { readLocalDescriptor } from "./repo-layout.js";
import { publishedRepository, TempDirs } from "./repo-test-kit.js";

/** What the stand-in throws (as node:fs would), or undefined to read for real. */
const failure = vi.hoisted(() => ({ error: undefined as NodeJS.ErrnoException | undefined }));

vi.mock("../fs-safety/regular-file.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../fs-safety/regular-file.js")>();
  return {
    ...actual,
    readRegularFile: (path: string, refuse: (kind: string) => Error) =>
      failure.error === undefined ? actual.readRegularFile(path, refuse) : Promise.reject(failure.error),
  };
});

const temp = new TempDirs();
afterEach(() => {
  failure.error = undefined;
  temp.cleanup();
});

/** A system error as node:fs makes it for an open of `path` (or a read, without the path). */
function systemError(code: string, text: string, syscall: string, path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${text}, ${syscall}${path ? ` '${path}'` : ""}`), {
    code,
    syscall,
    ...(path ? { path } : {}),
  });
}

const repo = "/srv/repos/dns";
const descriptor = join(repo, "repo.json");

describe("readLocalDescriptor, by the error reading repo.json", () => {
  const cases: Array<{ error: NodeJS.ErrnoException; code: string; message: string; hint: RegExp }> = [
    {
      error: systemError("ENOENT", "no such file or directory", "open", descriptor),
      code: "NOT_A_REPOSITORY",
      message: `${repo} is not a repository (it has no repo.json)`,
      hint: /^create one with: cui create \/srv\/repos\/dns$/,
    },
    {
      error: systemError("EACCES", "permission denied", "open", descriptor),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: this user may not read it, or may not enter a directory on its path (EACCES: permission denied, open)`,
      hint: /run cui as a user who may read the repository/,
    },
    {
      error: systemError("EPERM", "operation not permitted", "open", descriptor),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: the operation is not permitted (EPERM: operation not permitted, open)`,
      hint: /mount option, a security module/,
    },
    {
      error: systemError("ENOTDIR", "not a directory", "open", descriptor),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: ${repo}, or a directory on the way to it, is not a directory (ENOTDIR: not a directory, open)`,
      hint: /give the path of the repository's directory/,
    },
    {
      error: systemError("ELOOP", "too many symbolic links encountered", "open", descriptor),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: its path has too many levels of symbolic links (a link that points at itself, or a loop) (ELOOP: too many symbolic links encountered, open)`,
      hint: /links that end at one/,
    },
    {
      error: systemError("EIO", "i/o error", "read"),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: an input/output error on the disk holding it (EIO: i/o error, read)`,
      hint: /the disk or filesystem is failing/,
    },
    {
      error: systemError("ENAMETOOLONG", "name too long", "open", descriptor),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: its path is too long (ENAMETOOLONG: name too long, open)`,
      hint: /shorter path/,
    },
    {
      error: systemError("EMFILE", "too many open files", "open", descriptor),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: this process has too many open files (EMFILE: too many open files, open)`,
      hint: /ulimit -n/,
    },
    {
      error: systemError("ESTALE", "stale file handle", "open", descriptor),
      code: "REPO_UNREADABLE",
      message: `cannot read ${descriptor}: it could not be read (ESTALE: stale file handle, open)`,
      hint: /may be read/,
    },
  ];
  it.each(cases)("$error.code: $code", async ({ error, code, message, hint }) => {
    failure.error = error;
    const thrown = await readLocalDescriptor(repo).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(CollectiveError);
    expect(thrown).toMatchObject({ code, message, hint: expect.stringMatching(hint) });
    if (code !== "NOT_A_REPOSITORY") expect((thrown as CollectiveError).cause).toBe(error);
  });

  it("lets an error that is no system error through as it is (a bug, not bad input)", async () => {
    const bug = new TypeError("x is not a function");
    failure.error = bug as NodeJS.ErrnoException;
    expect(await readLocalDescriptor(repo).catch((e: unknown) => e)).toBe(bug);
  });
});

describe("cui publish and repo withdraw on a repo.json they may not read", () => {
  it.each([
    [
      "publish",
      (r: { repo: string; keyPath: string; cvl: string }) => ["publish", "--key", r.keyPath, r.repo, r.cvl],
    ],
    [
      "repo withdraw",
      (r: { repo: string; keyPath: string }) => ["repo", "withdraw", "--key", r.keyPath, r.repo, "1"],
    ],
  ])("cui %s says what happened, not that there is no repository", async (_name, args) => {
    const r = await publishedRepository(temp.make("unreadable"), 1);
    const path = join(r.repo, "repo.json");
    failure.error = systemError("EACCES", "permission denied", "open", path);
    const { status, stderr } = await runCui(args(r));
    expect(status).toBe(1);
    expect(stderr).toBe(
      `error: cannot read ${path}: this user may not read it, or may not enter a directory on its path (EACCES: permission denied, open)\n` +
        "  run cui as a user who may read the repository, or let that user read repo.json and enter every directory on its path\n",
    );
  });
});
