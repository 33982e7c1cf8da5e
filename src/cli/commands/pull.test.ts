import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestRepo, type TestRepo } from "../../cache/test-repo.js";
import { main } from "../main.js";

let scratch: string;
let repo: TestRepo;

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-cli-pull-"));
  repo = await makeTestRepo(scratch);
  const rootfs = join(scratch, "sources", "rootfs");
  await mkdir(join(rootfs, "etc"), { recursive: true });
  await writeFile(join(rootfs, "etc/motd"), "hello\n");
  await repo.publishTree(rootfs);
  await writeFile(join(rootfs, "etc/motd"), "hello again\n");
  await repo.publishTree(rootfs);
});

afterEach(async () => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
  await rm(scratch, { recursive: true, force: true });
});

/** Runs cui in-process and returns its exit status and what it printed. */
async function cui(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const status = await main(argv);
  vi.restoreAllMocks();
  process.exitCode = undefined;
  return { status, stdout, stderr };
}

describe("cui pull", () => {
  it("pulls the version asked for with --version, and says what it fetched and reused", async () => {
    const cache = join(scratch, "cache");
    const first = await cui("pull", repo.dir, "--version", "1", "--cache", cache, join(scratch, "one"));
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(
      /^pulled Web version 1 from file:\/\/.*\/repo: root -> .*\/one\n {2}[\d.]+ MiB fetched, 0\.0 MiB reused from the cache, in [\d.]+ s\n$/,
    );
    expect(await readFile(join(scratch, "one/etc/motd"), "utf8")).toBe("hello\n");
    const second = await cui("pull", "--json", "--cache", cache, repo.dir, join(scratch, "two"));
    expect(second.status).toBe(0);
    const summary = JSON.parse(second.stdout) as {
      version: number;
      bytesReused: number;
      chunksFetched: number;
    };
    expect(summary.version).toBe(2);
    expect(summary.chunksFetched).toBeGreaterThan(0);
    expect(await readFile(join(scratch, "two/etc/motd"), "utf8")).toBe("hello again\n");
  });

  it("uses $COLLECTIVE_CACHE when --cache is not given", async () => {
    vi.stubEnv("COLLECTIVE_CACHE", join(scratch, "env-cache"));
    try {
      expect((await cui("pull", repo.dir, join(scratch, "out"))).status).toBe(0);
      expect(await readFile(join(scratch, "out/etc/motd"), "utf8")).toBe("hello again\n");
      expect((await readdir(join(scratch, "env-cache/packs"))).some((name) => name.endsWith(".frames"))).toBe(
        true,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("rejects a bad --version as a usage error", async () => {
    const result = await cui("pull", repo.dir, "--version", "latest", join(scratch, "x"));
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('error: --version takes a version number (1, 2, ...), not "latest"');
  });

  it("names the version that does not exist", async () => {
    const result = await cui(
      "pull",
      repo.dir,
      "--version",
      "7",
      "--cache",
      join(scratch, "c"),
      join(scratch, "x"),
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^error: file:\/\/.*\/repo has no version 7/);
  });
});
