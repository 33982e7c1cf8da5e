/**
 * A repository file that is a directory, a FIFO or a device: refused at once with an error naming it,
 * never an internal error (EISDIR) or a read that blocks or never ends.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { CollectiveError } from "../errors.js";
import { FileTransport } from "./file-transport.js";
import { publish } from "./publish.js";
import { containerCvl, makeRepository, TempDirs } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

async function publishedRepository(): Promise<{ base: string; repo: string; pack: string }> {
  const base = temp.make("file-transport");
  const app = join(base, "app");
  mkdirSync(join(app, "rootfs"), { recursive: true });
  writeFileSync(join(app, "rootfs", "f"), "some bytes to store\n");
  const { repo, keyPath } = await makeRepository(base);
  await publish({ repoDir: repo, cvlPath: containerCvl(app, "rootfs"), keyPath });
  const pack = readdirSync(join(repo, "packs")).find((name) => name.endsWith(".pack"))!;
  return { base, repo, pack: `packs/${pack}` };
}

/** What to put in a file's place, and what the error then says it is. */
type Damage = readonly [string, (path: string) => void, string];

const damages: Damage[] = [
  ["a directory", (path) => mkdirSync(path), "a directory"],
  ["a FIFO", (path) => execFileSync("mkfifo", [path]), "a FIFO (named pipe)"],
  ["a symlink to /dev/zero", (path) => symlinkSync("/dev/zero", path), "a character device"],
];

function damage(repo: string, file: string, make: (path: string) => void): string {
  const path = join(repo, file);
  rmSync(path);
  make(path);
  return path;
}

async function expectRefused(promise: Promise<unknown>, path: string, kind: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CollectiveError);
  expect(error).toMatchObject({ code: "REPO_FILE_NOT_REGULAR", hint: expect.stringMatching(/damaged/) });
  expect((error as Error).message).toBe(`${path} is ${kind}, not a regular file`);
}

const files = ["repo.json", "latest.json", "versions/1/manifest.json", "PACK"];

describe("FileTransport.readFile", () => {
  it.each(files.flatMap((file) => damages.map(([name, make, kind]) => [file, name, make, kind] as const)))(
    "refuses %s when it is %s",
    async (file, _name, make, kind) => {
      const { repo, pack } = await publishedRepository();
      const path = damage(repo, file === "PACK" ? pack : file, make);
      const transport = new FileTransport(repo);
      await expectRefused(
        transport.readFile(file === "PACK" ? pack : file, { maxBytes: 1 << 20 }),
        path,
        kind,
      );
    },
    5000,
  );

  it("still says a missing file or a file under a file is not found", async () => {
    const { repo } = await publishedRepository();
    const transport = new FileTransport(repo);
    await expect(transport.readFile("versions/9/manifest.json")).rejects.toMatchObject({
      code: "REPO_NOT_FOUND",
    });
    await expect(transport.readFile("repo.json/x")).rejects.toMatchObject({ code: "REPO_NOT_FOUND" });
  });
});

describe("FileTransport.readRanges", () => {
  it.each(damages)(
    "refuses a pack file that is %s",
    async (_name, make, kind) => {
      const { repo, pack } = await publishedRepository();
      const path = damage(repo, pack, make);
      await expectRefused(new FileTransport(repo).readRanges(pack, [{ offset: 0, length: 16 }]), path, kind);
    },
    5000,
  );
});

const commands: Array<readonly [string, (base: string, repo: string) => string[]]> = [
  ["versions", (_base, repo) => ["versions", repo]],
  ["repo verify", (_base, repo) => ["repo", "verify", repo]],
  ["channel build", (base, repo) => ["channel", "build", join(base, "channel.xml"), repo]],
  ["pull", (base, repo) => ["pull", "--cache", join(base, "cache"), repo, join(base, "out")]],
];

describe("commands reading a repository with a file that is not a regular file", () => {
  it.each(
    ["repo.json", "latest.json"].flatMap((file) =>
      commands.flatMap(([command, args]) =>
        damages.map(([name, make, kind]) => [command, file, name, args, make, kind] as const),
      ),
    ),
  )(
    "cui %s refuses %s that is %s, naming it",
    async (_command, file, _name, args, make, kind) => {
      const { base, repo } = await publishedRepository();
      const path = damage(repo, file, make);
      const { status: code, stderr: err } = await runCui(args(base, repo));
      expect(err).not.toMatch(/internal error/);
      expect(code).toBe(1);
      expect(err).toContain(`error: ${path} is ${kind}, not a regular file\n`);
    },
    5000,
  );
});
