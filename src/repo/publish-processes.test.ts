/**
 * Publishing from real processes: several publishers at once, publishers killed with SIGKILL at random
 * moments, and a disk that fills up. Runs the built CLI (npm run build first; npm test does).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { FileTransport } from "./file-transport.js";
import { publish } from "./publish.js";
import { RepoReader } from "./repo-reader.js";
import { containerCvl, makeRepository, TempDirs } from "./repo-test-kit.js";
import { verifyRepository } from "./verify.js";

const temp = new TempDirs();
const mounts: string[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) execFileSync("umount", ["-l", m]);
  temp.cleanup();
});

const cli = resolve(import.meta.dirname, "../../bin/cui.js");
beforeAll(() => {
  if (!existsSync(resolve(import.meta.dirname, "../../dist/src/cli/main.js")))
    throw new Error("run npm run build first");
});

function makeTree(root: string, files: number, size: number): void {
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(root, `f${i}`), randomBytes(size));
}

function startPublish(
  repo: string,
  cvl: string,
  keyPath: string,
): { child: ChildProcess; done: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn(process.execPath, [cli, "publish", "--key", keyPath, repo, cvl], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((r) =>
    child.on("close", (code) => r({ code, out, err })),
  );
  return { child, done };
}

async function expectSound(repo: string, versions: number): Promise<void> {
  const report = await verifyRepository(new RepoReader(new FileTransport(repo)));
  expect(report.problems).toEqual([]);
  expect(report.versions).toBe(versions);
  const dirs = readdirSync(join(repo, "versions"))
    .map(Number)
    .sort((a, b) => a - b);
  expect(dirs).toEqual(Array.from({ length: versions }, (_, i) => i + 1));
}

describe("publishing from several processes", () => {
  it("gives concurrent publishers consecutive versions without corruption", async () => {
    const base = temp.make("concurrent");
    const { repo, keyPath } = await makeRepository(base);
    const cvls: string[] = [];
    for (let i = 0; i < 5; i++) {
      const app = join(base, `app${i}`);
      makeTree(join(app, "rootfs"), 20, 50_000 + i);
      cvls.push(containerCvl(app, "rootfs"));
    }
    const results = await Promise.all(cvls.map((cvl) => startPublish(repo, cvl, keyPath).done));
    for (const r of results) expect(r.code, r.err).toBe(0);
    expect(results.map((r) => Number(r.out.trim())).sort()).toEqual([1, 2, 3, 4, 5]);
    await expectSound(repo, 5);
    expect(JSON.parse(readFileSync(join(repo, "latest.json"), "utf8")).version).toBe(5);
    expect(readFileSync(join(repo, "feed.xml"), "utf8").match(/<item>/g)).toHaveLength(5);
  }, 60_000);

  it("leaves no half version when publishers are killed at random moments, and the next publish works", async () => {
    const base = temp.make("crash");
    const { repo, keyPath } = await makeRepository(base);
    const app = join(base, "app");
    makeTree(join(app, "rootfs"), 40, 1 << 20);
    const cvl = containerCvl(app, "rootfs");
    let published = 0;
    for (let round = 0; round < 8; round++) {
      // Fresh content each round so every publish has new chunks to write when it is killed.
      writeFileSync(join(app, "rootfs", `round${round}`), randomBytes(4 << 20));
      const { child, done } = startPublish(repo, cvl, keyPath);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 900));
      child.kill("SIGKILL");
      const result = await done;
      // A publisher killed after its atomic rename has published all the same: count what the
      // repository holds (every version must be whole), and a successful exit must have added one.
      const now = readdirSync(join(repo, "versions")).length;
      expect(now === published || now === published + 1, `versions went from ${published} to ${now}`).toBe(
        true,
      );
      if (result.code === 0) expect(now).toBe(published + 1);
      published = now;
      await expectSound(repo, published);
    }
    const { version } = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(version).toBe(published + 1);
    await expectSound(repo, published + 1);
    // Debris of killed publishers swept; only the publisher's record of unchanged files remains.
    expect(readdirSync(join(repo, "tmp"))).toEqual(["quick-check"]);
  }, 120_000);

  it("fails cleanly when the disk fills up, and publishes once there is room", async () => {
    const base = temp.make("full");
    const mount = join(base, "small");
    mkdirSync(mount);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3M", "tmpfs", mount]);
    mounts.push(mount);
    const { repo, keyPath } = await makeRepository(mount);
    const app = join(base, "app");
    makeTree(join(app, "rootfs"), 8, 1 << 20);
    const cvl = containerCvl(app, "rootfs");
    const error = await publish({ repoDir: repo, cvlPath: cvl, keyPath }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectiveError);
    expect((error as CollectiveError).code).toBe("DISK_FULL");
    expect(readdirSync(join(repo, "versions"))).toEqual([]);
    execFileSync("mount", ["-o", "remount,size=64M", mount]);
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(1);
    await expectSound(repo, 1);
  }, 60_000);
});
