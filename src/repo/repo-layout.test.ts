/** repo.json that is valid JSON but no object, or no regular file: a clean error, never a crash or a hang. */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { CollectiveError } from "../errors.js";
import { parseDescriptor, readLocalDescriptor } from "./repo-layout.js";
import { publishedRepository, TempDirs } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

/** `text` as a regular expression matching just it. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const notObjects = ["null", "[]", '"x"', "3", "true", '[{"format": "collective-repository"}]'];

describe("parseDescriptor", () => {
  it.each(notObjects)("refuses repo.json holding %s as a damaged repo.json", (text) => {
    let error: unknown;
    try {
      parseDescriptor(Buffer.from(text), "file:///srv/repos/dns");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CollectiveError);
    expect(error).toMatchObject({
      code: "REPO_CORRUPT",
      message: "file:///srv/repos/dns: repo.json is not a JSON object",
      hint: expect.stringMatching(/damaged/),
    });
  });

  it.each([
    ['"2"', 'formatVersion is "2", not a number; this cui reads format 2'],
    ["null", "formatVersion is null, not a number; this cui reads format 2"],
    ["99", "has repository format 99; this cui reads format 2"],
  ])("names a formatVersion of %s as it is", (value, says) => {
    const text = `{"format":"collective-repository","formatVersion":${value},"id":"x","keys":[]}`;
    expect(() => parseDescriptor(Buffer.from(text), "here")).toThrow(says);
  });

  it("still reports invalid JSON and a missing id the way it did", () => {
    expect(() => parseDescriptor(Buffer.from("{"), "here")).toThrow("here: repo.json is not valid JSON");
    expect(() =>
      parseDescriptor(Buffer.from('{"format":"collective-repository","formatVersion":2}'), "here"),
    ).toThrow("here: repo.json lacks an id or a list of keys");
  });
});

const commands: Array<
  [string, (r: { base: string; repo: string; keyPath: string; cvl: string }) => string[]]
> = [
  ["publish", (r) => ["publish", "--key", r.keyPath, r.repo, r.cvl]],
  ["versions", (r) => ["versions", r.repo]],
  ["repo withdraw", (r) => ["repo", "withdraw", "--key", r.keyPath, r.repo, "1"]],
  ["repo verify", (r) => ["repo", "verify", r.repo]],
  ["channel build", (r) => ["channel", "build", join(r.base, "channel.xml"), r.repo]],
];

describe("commands on a repository whose repo.json is valid JSON but no object", () => {
  it.each(
    commands.flatMap(([name, args]) => ["null", "[]", '"x"', "3"].map((text) => [name, text, args] as const)),
  )(
    "cui %s with repo.json %s fails with an error naming repo.json, not a crash",
    async (_name, text, args) => {
      const r = await publishedRepository(temp.make("layout"), 1);
      writeFileSync(join(r.repo, "repo.json"), text);
      const { status: code, stderr: err } = await runCui(args(r));
      expect(err).not.toMatch(/internal error/);
      expect(code).toBe(1);
      expect(err).toMatch(/^error: .*: repo\.json is not a JSON object\n/);
    },
  );
});

describe("readLocalDescriptor on a repo.json that is not a regular file", () => {
  const cases: Array<[string, (path: string) => void, RegExp]> = [
    ["a directory", (path) => mkdirSync(path), /is a directory, not a regular file/],
    ["a FIFO", (path) => execFileSync("mkfifo", [path]), /is a FIFO \(named pipe\), not a regular file/],
    ["a symlink to /dev/zero", (path) => symlinkSync("/dev/zero", path), /is a character device/],
  ];
  it.each(cases)(
    "refuses %s at once, naming it (publish, withdraw)",
    async (_name, make, message) => {
      const r = await publishedRepository(temp.make("layout"), 1);
      const path = join(r.repo, "repo.json");
      rmSync(path);
      make(path);
      const error = await readLocalDescriptor(r.repo).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CollectiveError);
      expect(error).toMatchObject({ code: "REPO_CORRUPT" });
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toMatch(message);
      const published = await runCui(["publish", "--key", r.keyPath, r.repo, r.cvl]);
      expect(published.status).toBe(1);
      expect(published.stderr).toContain(`error: ${path} is `);
    },
    5000,
  );
});

describe("readLocalDescriptor when repo.json cannot be read (as root: no EACCES; those are in repo-layout-read-error.test.ts)", () => {
  it("names a repository path that is a plain file, not 'no repo.json' (ENOTDIR)", async () => {
    const r = await publishedRepository(temp.make("layout"), 1);
    const file = join(r.base, "file");
    writeFileSync(file, "not a directory\n");
    // The system call named (stat, open) is the reader's business.
    const says = `cannot read ${file}/repo.json: ${file}, or a directory on the way to it, is not a directory (ENOTDIR: not a directory, `;
    const error = await readLocalDescriptor(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectiveError);
    expect(error).toMatchObject({ code: "REPO_UNREADABLE" });
    expect((error as Error).message).toMatch(new RegExp(`^${literal(says)}[a-z]+\\)$`));
    const published = await runCui(["publish", "--key", r.keyPath, file, r.cvl]);
    expect(published.status).toBe(1);
    expect(published.stderr).toMatch(
      new RegExp(
        `^error: ${literal(says)}[a-z]+\\)\n  give the path of the repository's directory \\(the one holding repo.json\\)\n$`,
      ),
    );
  });

  it("names a repo.json that is a link to itself (ELOOP)", async () => {
    const r = await publishedRepository(temp.make("layout"), 1);
    const path = join(r.repo, "repo.json");
    rmSync(path);
    symlinkSync("repo.json", path);
    const withdrawn = await runCui(["repo", "withdraw", "--key", r.keyPath, r.repo, "1"]);
    expect(withdrawn.status).toBe(1);
    expect(withdrawn.stderr).toMatch(
      new RegExp(
        `^error: cannot read ${literal(path)}: its path has too many levels of symbolic links .*\\(ELOOP: too many symbolic links encountered, [a-z]+\\)\n  make repo.json`,
      ),
    );
  });

  it("still says 'not a repository' when there is no repo.json (ENOENT)", async () => {
    const dir = temp.make("layout");
    expect(await readLocalDescriptor(dir).catch((e: unknown) => e)).toMatchObject({
      code: "NOT_A_REPOSITORY",
      message: `${dir} is not a repository (it has no repo.json)`,
      hint: `create one with: cui create ${dir}`,
    });
    const missing = join(dir, "nothing");
    expect((await readLocalDescriptor(missing).catch((e: unknown) => e)) as Error).toMatchObject({
      code: "NOT_A_REPOSITORY",
      message: `${missing} is not a repository (it has no repo.json)`,
    });
  });
});

describe("cui create on a disk that fills up", () => {
  it("leaves no half-made repository and no empty key, and works once there is room", async () => {
    const base = temp.make("create-full");
    const small = join(base, "small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small]);
    try {
      // Filled to the last block (dd stops with "No space left on device").
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${join(small, "filler")}`, "bs=4k", "count=1000"], {
          stdio: "ignore",
        });
      } catch {}
      const repoFails = await runCui(["create", "--key", join(base, "k"), join(small, "repo")]);
      expect(repoFails.status).toBe(1);
      expect(repoFails.stderr).toContain(
        `error: cannot create a repository at ${join(small, "repo")}: ENOSPC`,
      );
      const keyFails = await runCui(["create", "--key", join(small, "k"), join(base, "repo")]);
      expect(keyFails.status).toBe(1);
      expect(keyFails.stderr).toContain(`error: cannot create the publisher key ${join(small, "k")}: ENOSPC`);
      expect(readdirSync(small)).toEqual(["filler"]);
      rmSync(join(small, "filler"));
      expect((await runCui(["create", "--key", join(small, "k"), join(small, "repo")])).status).toBe(0);
      expect(readdirSync(join(small, "repo")).sort()).toEqual([
        "feed.xml",
        "latest.json",
        "locks",
        "objects",
        "packs",
        "repo.json",
        "tmp",
        "versions",
      ]);
    } finally {
      execFileSync("umount", ["-l", small]);
    }
  });
});
