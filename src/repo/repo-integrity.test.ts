import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { FileTransport } from "./file-transport.js";
import type { TreeEntry } from "./format.js";
import { loadOrCreatePublisherKey } from "./keys.js";
import { materializeVersion } from "./materialize.js";
import { publish } from "./publish.js";
import { RepoReader } from "./repo-reader.js";
import { containerCvl, makeRepository, settle, TempDirs } from "./repo-test-kit.js";
import { verifyRepository } from "./verify.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

/** A tree of 200 files of 2-60 KiB of incompressible bytes (about 6 MiB). */
function makeTree(root: string): string[] {
  const files: string[] = [];
  for (let d = 0; d < 10; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let f = 0; f < 20; f++) {
      const path = join(root, `d${d}`, `f${f}`);
      writeFileSync(path, randomBytes(2048 + (((d * 20 + f) * 7919) % (58 * 1024))));
      files.push(path);
    }
  }
  return files;
}

async function setup(): Promise<{
  base: string;
  app: string;
  repo: string;
  keyPath: string;
  cvl: string;
  files: string[];
}> {
  const base = temp.make("integrity");
  const app = join(base, "app");
  const files = makeTree(join(app, "rootfs"));
  const { repo, keyPath } = await makeRepository(base);
  const cvl = containerCvl(app, "rootfs");
  await settle(); // old enough for the quick-check records to vouch for the files
  return { base, app, repo, keyPath, cvl, files };
}

describe("deduplication", () => {
  it("stores only about the change when a second version edits a few files", async () => {
    const { repo, keyPath, cvl, files } = await setup();
    const v1 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    // Edit 10 files in place (32 bytes each) and append 512 bytes to them: 5,440 bytes of new information.
    for (const path of files.slice(0, 10)) {
      const fd = openSync(path, "r+");
      writeSync(fd, randomBytes(32), 0, 32, 1000);
      closeSync(fd);
      writeFileSync(path, randomBytes(512), { flag: "a" });
    }
    const v2 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(v1.manifest.stats.newBytes).toBeGreaterThan(5_000_000);
    // Each edit rewrites the chunks around it (at most ~2 chunks of up to 64 KiB, average 8 KiB) plus metadata.
    expect(v2.manifest.stats.newBytes).toBeLessThan(10 * 2 * 20_000 + 40_000);
    expect(v2.manifest.stats.newChunks).toBeLessThan(40);
  });

  it("stores nothing but the manifest for an unchanged republish", async () => {
    const { repo, keyPath, cvl } = await setup();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const v2 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(v2.manifest.stats.newChunks).toBe(0);
    expect(v2.manifest.stats.newBytes).toBe(readFileSync(cvl).length);
  });
});

describe("republishing a directory", () => {
  it("skips unchanged files but notices a rewrite that restored the old mtime", async () => {
    const { base, repo, keyPath, cvl, files } = await setup();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const unchanged = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(unchanged.manifest.stats.newChunks).toBe(0);
    // Same size, same mtime, different bytes: only the change time tells.
    const victim = files[3]!;
    const { mtime, atime } = statSync(victim);
    writeFileSync(victim, randomBytes(statSync(victim).size));
    utimesSync(victim, atime, mtime);
    const changed = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(changed.manifest.stats.newChunks).toBeGreaterThan(0);
    const reader = new RepoReader(new FileTransport(repo));
    const out = join(base, "out");
    await materializeVersion(reader, await reader.manifest(changed.version), out);
    expect(
      readFileSync(join(out, "root", victim.slice(join(base, "app", "rootfs").length + 1))).equals(
        readFileSync(victim),
      ),
    ).toBe(true);
  });
});

describe("republishing an unchanged directory", () => {
  const rootOf = (app: string): string => join(app, "rootfs");
  const quickCheckFiles = (repo: string): string[] => readdirSync(join(repo, "tmp", "quick-check"));

  it("takes the whole tree from the last publish's record, without looking at a file", async () => {
    const { repo, keyPath, cvl } = await setup();
    const v1 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const v2 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(v2.manifest.disks).toEqual(v1.manifest.disks);
    expect(v2.manifest.packs).toEqual(v1.manifest.packs);
    expect(v2.manifest.stats.chunks).toBe(v1.manifest.stats.chunks);
    expect(v2.manifest.stats.newChunks).toBe(0);
    // The record is what the version is made from: a size written into it shows in the next version.
    // (Written by v1's publish, whose walk stored the files: its fingerprint is the looking walk's.)
    const [treeRecord] = quickCheckFiles(repo).filter((name) => name.endsWith(".tree.json"));
    const path = join(repo, "tmp", "quick-check", treeRecord!);
    const record = JSON.parse(readFileSync(path, "utf8")) as { fingerprint: string };
    writeFileSync(path, JSON.stringify({ ...record, size: 12345 }));
    const v3 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(v3.manifest.disks[0]!.size).toBe(12345);
    expect((JSON.parse(readFileSync(path, "utf8")) as { fingerprint: string }).fingerprint).toBe(
      record.fingerprint,
    );
  });

  it("does not take the record when a pack or the listing it names is gone: the tree is stored again", async () => {
    const { repo, keyPath, cvl } = await setup();
    const v1 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const listing = (v1.manifest.disks[0] as { listing: string }).listing;
    const objects = join(repo, "objects");
    const saved = readFileSync(join(objects, listing));
    rmSync(join(objects, listing));
    const v2 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(v2.manifest.disks).toEqual(v1.manifest.disks);
    expect(readFileSync(join(objects, listing)).equals(saved)).toBe(true); // stored again
  });

  it.each<[string, string, (root: string) => void, (entry: TreeEntry | undefined) => void]>([
    [
      "a file renamed",
      "d1/g1",
      (root) => renameSync(join(root, "d1", "f1"), join(root, "d1", "g1")),
      (entry) => expect(entry?.type).toBe("file"),
    ],
    [
      "a file added",
      "d1/g1",
      (root) => writeFileSync(join(root, "d1", "g1"), "new\n"),
      (entry) => expect(entry?.size).toBe(4),
    ],
    [
      "a file removed",
      "d1/f1",
      (root) => rmSync(join(root, "d1", "f1")),
      (entry) => expect(entry).toBeUndefined(),
    ],
    [
      "a directory added in a subdirectory",
      "d2/new",
      (root) => mkdirSync(join(root, "d2", "new")),
      (entry) => expect(entry?.type).toBe("dir"),
    ],
    [
      "a mode changed",
      "d1/f2",
      (root) => chmodSync(join(root, "d1", "f2"), 0o600),
      (entry) => expect(entry?.mode).toBe(0o600),
    ],
    [
      "an extended attribute set",
      "d1/f2",
      (root) => execFileSync("setfattr", ["-n", "user.color", "-v", "blue", join(root, "d1", "f2")]),
      (entry) => expect(entry?.xattrs).toEqual({ "user.color": Buffer.from("blue").toString("base64") }),
    ],
  ])("stores the tree again after %s", async (_, path, change, check) => {
    const { app, repo, keyPath, cvl } = await setup();
    const v1 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    await publish({ repoDir: repo, cvlPath: cvl, keyPath }); // the records are in place, and used
    change(rootOf(app));
    const v3 = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(v3.manifest.disks).not.toEqual(v1.manifest.disks);
    const reader = new RepoReader(new FileTransport(repo));
    const listing = (v3.manifest.disks[0] as { listing: string }).listing;
    check((await reader.treeListing(v3.manifest, listing)).find((entry) => entry.path === path));
  });

  it("keeps no record of a file changed while the publish walks the tree: the next publish reads it", async () => {
    const { app, repo, keyPath, cvl, files } = await setup();
    const root = rootOf(app);
    const victim = files[150]!; // d7/f10, walked after the first files
    const { mtime, atime } = statSync(victim);
    let rewritten = false;
    // Rewritten before the walk reaches it, same size and mtime: only its change time is new.
    const progress = (): void => {
      if (rewritten) return;
      rewritten = true;
      writeFileSync(victim, randomBytes(statSync(victim).size));
      utimesSync(victim, atime, mtime);
    };
    const v1 = await publish({ repoDir: repo, cvlPath: cvl, keyPath, progress });
    expect(rewritten).toBe(true);
    const records = (): string[] => quickCheckFiles(repo);
    expect(records().filter((name) => name.endsWith(".tree.json"))).toEqual([]); // no record of the tree
    const fileRecord = (): Record<string, unknown> =>
      JSON.parse(readFileSync(join(repo, "tmp", "quick-check", records()[0]!), "utf8"));
    expect(records()).toHaveLength(1);
    expect(Object.keys(fileRecord())).toHaveLength(files.length - 1);
    expect(fileRecord()).not.toHaveProperty("d7/f10");
    // The version has what the file held when it was read, which is what it holds now.
    const reader = new RepoReader(new FileTransport(repo));
    const out = join(temp.make("integrity-out"), "out");
    await materializeVersion(reader, v1.manifest, out);
    expect(readFileSync(join(out, "root", victim.slice(root.length + 1))).equals(readFileSync(victim))).toBe(
      true,
    );
    // Once the change is old enough, the next publish records the file and the tree.
    await settle();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    expect(fileRecord()).toHaveProperty("d7/f10");
    expect(records().filter((name) => name.endsWith(".tree.json"))).toHaveLength(1);
  });
});

describe("verification", () => {
  it("passes a sound repository", async () => {
    const { repo, keyPath, cvl } = await setup();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const report = await verifyRepository(new RepoReader(new FileTransport(repo)));
    expect(report.problems).toEqual([]);
    expect(report.chunks).toBeGreaterThan(200);
  });

  it("reports a flipped byte in a chunk, naming repository, version, pack and chunk", async () => {
    const { repo, keyPath, cvl } = await setup();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const pack = readdirSync(join(repo, "packs")).find((n) => n.endsWith(".pack"))!;
    const bytes = readFileSync(join(repo, "packs", pack));
    bytes[5000] = bytes[5000]! ^ 0x01;
    writeFileSync(join(repo, "packs", pack), bytes);
    const report = await verifyRepository(new RepoReader(new FileTransport(repo)));
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      version: 1,
      pack: pack.slice(0, -5),
      repository: expect.stringContaining("file://"),
    });
    expect(report.problems[0]!.chunk).toMatch(/^[0-9a-f]{64}$/);
    expect(report.problems[0]!.message).toMatch(/does not match its hash|corrupt/);
  });

  it("reports a changed manifest as a signature failure", async () => {
    const { repo, keyPath, cvl } = await setup();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const path = join(repo, "versions/1/manifest.json");
    writeFileSync(path, readFileSync(path, "utf8").replace('"kind": "container"', '"kind": "vm"'));
    const report = await verifyRepository(new RepoReader(new FileTransport(repo)));
    expect(report.problems.map((p) => [p.version, p.message])).toEqual([
      [1, expect.stringMatching(/signature does not verify/)],
    ]);
  });

  it("reports a changed CVL file of a version", async () => {
    const { repo, keyPath, cvl } = await setup();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    writeFileSync(join(repo, "versions/1/files/app.cvl"), "tampered");
    const report = await verifyRepository(new RepoReader(new FileTransport(repo)));
    expect(report.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/file app\.cvl does not match its hash/),
    ]);
  });
});

describe("keys", () => {
  it("refuses to publish with a key that is not the repository's", async () => {
    const { base, repo, cvl } = await setup();
    const other = join(base, "other.key");
    await loadOrCreatePublisherKey(other);
    const error = await publish({ repoDir: repo, cvlPath: cvl, keyPath: other }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectiveError);
    expect((error as CollectiveError).message).toMatch(/is not a publisher key of/);
    expect(readdirSync(join(repo, "versions"))).toEqual([]);
  });

  it("rejects a version signed by a key the repository does not list, and a pinned key that differs", async () => {
    const { base, repo, keyPath, cvl } = await setup();
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    const other = await loadOrCreatePublisherKey(join(base, "other.key"));
    const reader = new RepoReader(new FileTransport(repo));
    await expect(reader.manifest(1, other.publicKey)).rejects.toThrow(
      /signed by ed25519:.*but the pinned key is ed25519:/,
    );
    // Replace repo.json's key list: the (validly signed) manifest is no longer trusted.
    const descriptorPath = join(repo, "repo.json");
    const descriptor = JSON.parse(readFileSync(descriptorPath, "utf8"));
    writeFileSync(descriptorPath, JSON.stringify({ ...descriptor, keys: [other.publicKey] }));
    await expect(new RepoReader(new FileTransport(repo)).manifest(1)).rejects.toThrow(
      /which is not a key of the repository/,
    );
  });
});
