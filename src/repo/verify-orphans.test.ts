/**
 * `cui repo verify` on packs and objects that no version refers to (left by a crashed publish): listed as
 * warnings with their sizes and total, never a problem; none when there are none; never the packs of a
 * publish in flight; not listed (and said so) over HTTP, or when a version cannot be read.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { FileTransport } from "./file-transport.js";
import { publish } from "./publish.js";
import { withPublishLock } from "./publish-lock.js";
import { RepoReader } from "./repo-reader.js";
import { containerCvl, makeRepository, TempDirs } from "./repo-test-kit.js";
import { type RepoServer, startRepoServer } from "./serve.js";
import { type VerifyReport, verifyRepository } from "./verify.js";

const temp = new TempDirs();
let server: RepoServer | undefined;
afterEach(async () => {
  await server?.close(0);
  server = undefined;
  temp.cleanup();
});

/** The files of packs/ and objects/, as paths in the repository. */
function stored(repo: string): string[] {
  return ["packs", "objects"].flatMap((dir) => readdirSync(join(repo, dir)).map((name) => `${dir}/${name}`));
}

/** A repository with two versions, each with a pack of its own. */
async function twoVersions(label: string) {
  const base = temp.make(label);
  const app = join(base, "app");
  mkdirSync(join(app, "rootfs"), { recursive: true });
  const { repo, keyPath } = await makeRepository(base);
  const cvl = containerCvl(app, "rootfs");
  writeFileSync(join(app, "rootfs", "a"), randomBytes(50_000));
  await publish({ repoDir: repo, cvlPath: cvl, keyPath });
  writeFileSync(join(app, "rootfs", "b"), randomBytes(30_000));
  await publish({ repoDir: repo, cvlPath: cvl, keyPath });
  return { base, app, repo, keyPath, cvl };
}

/**
 * Leaves in `repo` what a publish that crashed after installing its pack leaves: a pack, its index and an
 * object (the new tree listing) that no version refers to. Made by publishing for real into a copy.
 */
function crashedPublishDebris(r: { base: string; app: string; repo: string; keyPath: string; cvl: string }) {
  const copy = join(r.base, "copy");
  execFileSync("cp", ["-a", r.repo, copy]);
  writeFileSync(join(r.app, "rootfs", "c"), randomBytes(20_000));
  return publish({ repoDir: copy, cvlPath: r.cvl, keyPath: r.keyPath }).then(() => {
    const before = new Set(stored(r.repo));
    const added = stored(copy)
      .filter((path) => !before.has(path))
      .sort();
    for (const path of added) copyFileSync(join(copy, path), join(r.repo, path));
    return added.map((path) => ({ path, size: statSync(join(r.repo, path)).size }));
  });
}

function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

describe("cui repo verify and unreferenced packs and objects", () => {
  it("lists exactly the ones no version refers to, with their sizes and total, and still exits 0", async () => {
    const r = await twoVersions("orphans");
    const debris = await crashedPublishDebris(r);
    expect(debris.map((f) => f.path.replace(/[0-9a-f]{64}/, "H"))).toEqual([
      "objects/H",
      "packs/H.idx",
      "packs/H.pack",
    ]);
    const total = debris.reduce((sum, f) => sum + f.size, 0);
    const url = `file://${r.repo}`;

    const { status, stdout, stderr } = await runCui(["repo", "verify", r.repo]);
    expect(status).toBe(0);
    expect(stderr).toBe(
      debris
        .map(
          (f) =>
            `warning: ${url}: unreferenced ${f.path} (${formatBytes(f.size)}): no version refers to it\n`,
        )
        .join("") +
        `warning: ${url}: 3 unreferenced files, ${formatBytes(total)} in all\n` +
        "  they waste space but no version needs them (a publish that crashed, or an older cui, left them); to reclaim it, remove them while no publish is running (a later publish may reuse their chunks: verify again just before)\n",
    );
    expect(stdout).toMatch(
      new RegExp(
        `^${url}: 2 versions, 2 packs, \\d+ chunks checked, 0 problems, 3 unreferenced files \\(${formatBytes(total).replace(".", "\\.")}\\)\n$`,
      ),
    );

    const json = await runCui(["repo", "verify", "--json", r.repo]);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as VerifyReport;
    expect(report).toMatchObject({ ok: true, problems: [], versions: 2 });
    expect(report.unreferenced).toEqual({ files: debris, bytes: total });
  }, 30_000);

  it("reports none in a repository without any", async () => {
    const r = await twoVersions("no-orphans");
    const { status, stdout, stderr } = await runCui(["repo", "verify", r.repo]);
    expect(status).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(
      new RegExp(
        `^file://${r.repo}: 2 versions, 2 packs, \\d+ chunks checked, 0 problems, 0 unreferenced files\n$`,
      ),
    );
    const report = JSON.parse((await runCui(["repo", "verify", "--json", r.repo])).stdout) as VerifyReport;
    expect(report.unreferenced).toEqual({ files: [], bytes: 0 });
    expect(report.ok).toBe(true);
  }, 30_000);

  it("never takes the packs of a publish in flight for unreferenced ones", async () => {
    const r = await twoVersions("in-flight");
    writeFileSync(join(r.app, "rootfs", "c"), randomBytes(20_000));
    const before = new Set(stored(r.repo));
    let during: Promise<VerifyReport> | undefined;
    let installed: string[] = [];
    const published = await publish({
      repoDir: r.repo,
      cvlPath: r.cvl,
      keyPath: r.keyPath,
      // Its new pack, index and listing are in packs/ and objects/; its version is not there yet, and it
      // holds the publish lock. A verify run now must not list them (it waits for the lock).
      checkpoint: async (name) => {
        if (name !== "installed") return;
        installed = stored(r.repo).filter((path) => !before.has(path));
        during = verifyRepository(new RepoReader(new FileTransport(r.repo)));
        await Promise.race([during, new Promise((resolve) => setTimeout(resolve, 1000))]);
      },
    });
    expect(published.version).toBe(3);
    expect(installed).toHaveLength(3);
    const report = await during!;
    expect(report.problems).toEqual([]);
    expect(report.unreferenced).toEqual({ files: [], bytes: 0 });
  }, 30_000);

  it("does not list them while the publish lock stays held, and says so", async () => {
    const r = await twoVersions("held");
    writeFileSync(join(r.repo, "packs", `${"e".repeat(64)}.pack`), "x");
    const report = await withPublishLock(r.repo, () =>
      verifyRepository(new RepoReader(new FileTransport(r.repo)), { lockTimeoutMs: 200 }),
    );
    expect(report.ok).toBe(true);
    expect(report.unreferenced).toEqual({
      skipped: `not checked: ${join(r.repo, "locks", "publish.lock")} is held by process ${process.pid} on ${(await import("node:os")).hostname()}; run cui repo verify again once that publish is done`,
      files: [],
      bytes: 0,
    });
    // Once it is free, the file is listed.
    const after = await verifyRepository(new RepoReader(new FileTransport(r.repo)));
    expect(after.unreferenced).toEqual({
      files: [{ path: `packs/${"e".repeat(64)}.pack`, size: 1 }],
      bytes: 1,
    });
  }, 30_000);

  it("lists them on a read-only filesystem, where no lock can be taken and no publish be in flight", async () => {
    const r = await twoVersions("read-only");
    writeFileSync(join(r.repo, "objects", "f".repeat(64)), "12345");
    const view = join(r.base, "view");
    mkdirSync(view);
    execFileSync("mount", ["--bind", r.repo, view]);
    try {
      execFileSync("mount", ["-o", "remount,ro,bind", view]);
      const { status, stdout, stderr } = await runCui(["repo", "verify", view]);
      expect(status).toBe(0);
      expect(stderr).toContain(`warning: file://${view}: unreferenced objects/${"f".repeat(64)} (5 B)`);
      expect(stdout).toMatch(/, 0 problems, 1 unreferenced file \(5 B\)\n$/);
    } finally {
      execFileSync("umount", ["-l", view]);
    }
  }, 30_000);

  it("says it did not list them when a version cannot be read, and fails for that version only", async () => {
    const r = await twoVersions("unread");
    writeFileSync(join(r.repo, "versions", "1", "manifest.json"), "{}");
    const { status, stdout, stderr } = await runCui(["repo", "verify", r.repo]);
    expect(status).toBe(1);
    expect(stdout).toBe("");
    // Version 1's pack is referenced by nothing readable now, but must not be offered for removal.
    expect(stderr).not.toContain("unreferenced packs/");
    expect(stderr).toMatch(
      /, 1 problems; unreferenced files not checked: version 1 could not be read, so what it refers to is unknown\n$/,
    );
  }, 30_000);

  it("says it did not list them for a repository over HTTP, and exits 0", async () => {
    const r = await twoVersions("http");
    writeFileSync(join(r.repo, "packs", `${"d".repeat(64)}.idx`), "x");
    server = await startRepoServer({ root: r.base, host: "127.0.0.1", port: 0 });
    const url = `${server.url.replace(/\/$/, "")}/repo`;
    const { status, stdout, stderr } = await runCui(["repo", "verify", url]);
    expect(status).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(
      new RegExp(
        `^${url}: 2 versions, 2 packs, \\d+ chunks checked, 0 problems; unreferenced files not checked for a repository over HTTP \\(a web server does not list packs/ and objects/\\); run cui repo verify on its directory\n$`,
      ),
    );
  }, 30_000);
});
