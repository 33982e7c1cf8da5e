/** The feed skips versions whose manifest is no manifest, so publish and withdraw still finish. */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseFeed } from "./feed.js";
import { isFeedManifest } from "./feed-writer.js";
import { publish } from "./publish.js";
import { publishedRepository, TempDirs } from "./repo-test-kit.js";
import { withdrawVersion } from "./withdraw.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

function feedOf(repo: string): Array<{ version: number; withdrawn: boolean }> {
  return parseFeed(readFileSync(join(repo, "feed.xml"), "utf8"), "feed.xml").items.map((item) => ({
    version: item.version,
    withdrawn: item.withdrawn === true,
  }));
}

const valid = JSON.parse(
  JSON.stringify({
    format: "collective-manifest",
    formatVersion: 2,
    repository: "r",
    version: 1,
    created: "2026-01-01T00:00:00.000Z",
    signer: "ed25519:x",
    appliance: { name: "App", kind: "container", cvl: "app.cvl" },
    files: [],
    disks: [],
    packs: [],
    stats: { logicalBytes: 1, chunks: 1, newChunks: 1, newBytes: 1 },
  }),
);

/** Contents of versions/1/manifest.json that parse as JSON but are no manifest. */
const notManifests: Array<[string, string]> = [
  ["null", "null"],
  ["an empty list", "[]"],
  ["an empty object", "{}"],
  ["a string", '"manifest"'],
  ["a manifest of another format", JSON.stringify({ ...valid, format: "other" })],
  ["a manifest without an appliance", JSON.stringify({ ...valid, appliance: null })],
  ["a manifest whose name is no string", JSON.stringify({ ...valid, appliance: { name: 7, kind: "vm" } })],
  ["a manifest without stats", JSON.stringify({ ...valid, stats: undefined })],
  ["a manifest with a negative size", JSON.stringify({ ...valid, stats: { ...valid.stats, newBytes: -1 } })],
];

describe("isFeedManifest", () => {
  it("accepts a manifest as publish writes it", () => {
    expect(isFeedManifest(valid)).toBe(true);
  });

  it.each(notManifests)("refuses %s", (_name, text) => {
    expect(isFeedManifest(JSON.parse(text))).toBe(false);
  });
});

describe("rebuilding the feed when an existing version's manifest is no manifest", () => {
  it.each(notManifests)(
    "publish and withdraw succeed and leave version 1 out of the feed when it holds %s",
    async (_name, text) => {
      const { repo, keyPath, cvl } = await publishedRepository(temp.make("feed-writer"), 2);
      writeFileSync(join(repo, "versions/1/manifest.json"), text);
      const result = await publish({ repoDir: repo, cvlPath: cvl, keyPath });
      expect(result.version).toBe(3);
      expect(JSON.parse(readFileSync(join(repo, "latest.json"), "utf8")).version).toBe(3);
      expect(feedOf(repo)).toEqual([
        { version: 3, withdrawn: false },
        { version: 2, withdrawn: false },
      ]);
      await withdrawVersion(repo, 2, keyPath, "broken");
      expect(feedOf(repo)).toEqual([
        { version: 3, withdrawn: false },
        { version: 2, withdrawn: true },
      ]);
    },
  );

  it.each<[string, (path: string) => void]>([
    ["a directory", (path) => mkdirSync(path)],
    ["a FIFO", (path) => execFileSync("mkfifo", [path])],
  ])(
    "skips a manifest.json that is %s without blocking",
    async (_name, make) => {
      const { repo, keyPath, cvl } = await publishedRepository(temp.make("feed-writer"), 2);
      const path = join(repo, "versions/1/manifest.json");
      rmSync(path);
      make(path);
      expect((await publish({ repoDir: repo, cvlPath: cvl, keyPath })).version).toBe(3);
      await withdrawVersion(repo, 3, keyPath);
      expect(feedOf(repo)).toEqual([
        { version: 3, withdrawn: true },
        { version: 2, withdrawn: false },
      ]);
    },
    5000,
  );
});
