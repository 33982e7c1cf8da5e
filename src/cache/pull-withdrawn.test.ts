/** `cui pull` without --version takes the newest version that is not withdrawn, as an import does. */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { FileTransport } from "../repo/file-transport.js";
import { publishedRepository, TempDirs } from "../repo/repo-test-kit.js";
import { withdrawVersion } from "../repo/withdraw.js";
import { pullVersion } from "./pull.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

describe("pulling a repository with withdrawn versions", () => {
  it("takes the newest version not withdrawn, and a withdrawn one only when named", async () => {
    const { base, repo, keyPath } = await publishedRepository(temp.make("pull-withdrawn"), 3);
    await withdrawVersion(repo, 3, keyPath, "broken");
    const cacheDir = join(base, "cache");
    const latest = await pullVersion(new FileTransport(repo), join(base, "latest"), { cacheDir });
    expect(latest.manifest.version).toBe(2);
    const named = await pullVersion(new FileTransport(repo), join(base, "three"), { cacheDir, version: 3 });
    expect(named.manifest.version).toBe(3);
  });

  it("fails when every version is withdrawn, saying so and how to pull one anyway, and makes nothing", async () => {
    const { base, repo, keyPath } = await publishedRepository(temp.make("pull-withdrawn"), 2);
    await withdrawVersion(repo, 1, keyPath, "old");
    await withdrawVersion(repo, 2, keyPath, "leaks memory");
    const before = readdirSync(base).sort();
    const result = await runCui(["pull", "--cache", join(base, "cache"), repo, join(base, "out")]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `error: both versions of file://${repo} are withdrawn (version 2: "leaks memory")\n`,
    );
    expect(result.stderr).toContain("pull one anyway with --version N, to inspect it");
    expect(existsSync(join(base, "out"))).toBe(false);
    expect(readdirSync(base).sort()).toEqual(before);
  });
});
