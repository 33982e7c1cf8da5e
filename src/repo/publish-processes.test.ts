/**
 * Publishing from real processes: several publishers at once, publishers killed with SIGKILL at random
 * moments, and a disk that fills up. Runs the built CLI (npm run build first; npm test does).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
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

/** The files of packs/ and objects/ with their sizes. */
function storedFiles(repo: string): string[] {
  return ["packs", "objects"].flatMap((dir) =>
    readdirSync(join(repo, dir))
      .map((name) => `${dir}/${name} ${statSync(join(repo, dir, name)).size}`)
      .sort(),
  );
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

  it("adds nothing to packs/ or objects/ when a pack fills the disk, so the next small publish fits", async () => {
    const base = temp.make("full-pack");
    const mount = join(base, "small");
    mkdirSync(mount);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1M", "tmpfs", mount]);
    mounts.push(mount);
    const { repo, keyPath } = await makeRepository(mount);
    const app = join(base, "app");
    makeTree(join(app, "rootfs"), 1, 100_000);
    const cvl = containerCvl(app, "rootfs");
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(1);
    const before = storedFiles(repo);
    expect(before.filter((f) => f.startsWith("packs/"))).toHaveLength(2); // version 1's pack and index
    expect(before.filter((f) => f.startsWith("objects/"))).toHaveLength(1); // its listing
    // One 3 MB random file: a pack three times the room left, written in a 4 MiB buffer that the disk
    // takes in part (a short write) before refusing more.
    writeFileSync(join(app, "rootfs", "big"), randomBytes(3_000_000));
    const error = await publish({ repoDir: repo, cvlPath: cvl, keyPath }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectiveError);
    expect((error as CollectiveError).code).toBe("DISK_FULL");
    expect((error as CollectiveError).message).toContain("nothing was published");
    expect(storedFiles(repo)).toEqual(before); // version 1's pack kept, nothing new, nothing truncated
    expect(readdirSync(join(repo, "versions"))).toEqual(["1"]);
    expect(readdirSync(join(repo, "tmp"))).toEqual(["quick-check"]);
    // The room is back: a small change publishes on the same disk.
    rmSync(join(app, "rootfs", "big"));
    writeFileSync(join(app, "rootfs", "small"), randomBytes(20_000));
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(2);
    await expectSound(repo, 2);
    // And the big one once the disk is bigger.
    writeFileSync(join(app, "rootfs", "big"), randomBytes(3_000_000));
    execFileSync("mount", ["-o", "remount,size=64M", mount]);
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(3);
    await expectSound(repo, 3);
    expect(execFileSync(process.execPath, [cli, "repo", "verify", repo], { encoding: "utf8" })).toMatch(
      /\b0 problems\b/,
    );
  }, 60_000);

  it("removes the packs and objects it installed when the version's rename fails", async () => {
    const base = temp.make("undo");
    const { repo, keyPath } = await makeRepository(base);
    const app = join(base, "app");
    makeTree(join(app, "rootfs"), 2, 100_000);
    const cvl = containerCvl(app, "rootfs");
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(1);
    const before = storedFiles(repo);
    writeFileSync(join(app, "rootfs", "new"), randomBytes(200_000));
    let installed: string[] = [];
    const error = await publish({
      repoDir: repo,
      cvlPath: cvl,
      keyPath,
      checkpoint: (name) => {
        if (name !== "installed") return;
        installed = storedFiles(repo);
        throw Object.assign(new Error("no space left on device, rename"), { code: "ENOSPC" });
      },
    }).catch((e: unknown) => e);
    expect((error as CollectiveError).code).toBe("DISK_FULL");
    expect(installed.length).toBe(before.length + 3); // a new pack, its index, a new listing
    expect(storedFiles(repo)).toEqual(before);
    expect(readdirSync(join(repo, "versions"))).toEqual(["1"]);
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(2);
    await expectSound(repo, 2);
  }, 60_000);

  it("says the version was published when only latest.json or feed.xml could not be rewritten", async () => {
    const base = temp.make("index-fails");
    const { repo, keyPath } = await makeRepository(base);
    const app = join(base, "app");
    makeTree(join(app, "rootfs"), 2, 10_000);
    const cvl = containerCvl(app, "rootfs");
    const error = await publish({
      repoDir: repo,
      cvlPath: cvl,
      keyPath,
      checkpoint: (name) => {
        if (name === "renamed")
          throw Object.assign(new Error("no space left on device, write"), { code: "ENOSPC" });
      },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "PUBLISH_INDEX",
      message: `version 1 was published into ${repo}, but latest.json or feed.xml could not be rewritten: no space left on device, write`,
    });
    expect(readdirSync(join(repo, "versions"))).toEqual(["1"]);
    await expectSound(repo, 1); // readers find it, and its packs were kept
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(2);
  }, 60_000);

  it("refuses to publish a version whose chunks a failing concurrent publish removed again", async () => {
    const base = temp.make("race");
    const { repo, keyPath } = await makeRepository(base);
    const app = join(base, "app");
    makeTree(join(app, "rootfs"), 2, 100_000);
    const cvl = containerCvl(app, "rootfs");
    const before = storedFiles(repo);
    // A installs its pack, then fails; meanwhile B, publishing the same files, has loaded A's index and
    // reuses A's chunks instead of writing its own.
    let second: Promise<unknown> | undefined;
    const first = await publish({
      repoDir: repo,
      cvlPath: cvl,
      keyPath,
      checkpoint: async (name) => {
        if (name !== "installed") return;
        await new Promise<void>((stored) => {
          second = publish({
            repoDir: repo,
            cvlPath: cvl,
            keyPath,
            checkpoint: (at) => {
              if (at === "disks-stored") stored();
            },
          }).catch((e: unknown) => e);
        });
        throw Object.assign(new Error("input/output error, rename"), { code: "EIO" });
      },
    }).catch((e: unknown) => e);
    expect((first as CollectiveError).code).toBe("PUBLISH_IO");
    const error = await second;
    expect(error).toBeInstanceOf(CollectiveError);
    expect((error as CollectiveError).code).toBe("PUBLISH_RACE");
    expect(readdirSync(join(repo, "versions"))).toEqual([]);
    expect(storedFiles(repo)).toEqual(before);
    expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(1);
    await expectSound(repo, 1);
  }, 60_000);
});
