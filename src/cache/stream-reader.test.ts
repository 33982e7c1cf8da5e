import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileTransport } from "../repo/file-transport.js";
import { RepoReader } from "../repo/repo-reader.js";
import { prepareCache } from "./cache-dir.js";
import { ChunkSource } from "./chunk-source.js";
import { readStream, readStreamIndex } from "./stream-reader.js";
import { makeTestRepo, type TestRepo } from "./test-repo.js";

let scratch: string;
let repo: TestRepo;

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-stream-reader-"));
  repo = await makeTestRepo(scratch);
  // A sparse image of 48,000 blocks with data every 97 blocks: a block map of 1.5 MB whose chunks all
  // differ (none is stored once for several places), which a fetch brings in several runs of frames.
  const path = join(scratch, "sources", "wide.img");
  const handle = await open(path, "w");
  for (let i = 7; i < 48_000; i += 97) await handle.write(randomBytes(4096), 0, 4096, i * 4096);
  await handle.truncate(48_000 * 4096);
  await handle.close();
  await repo.publishImage(path);
});

afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("readStream", () => {
  it.each([
    ["fetched, arriving in runs", 1],
    ["read from the cache", 2],
  ])("reports only leading bytes that are final, and ends with the whole stream: %s", async (_, pulls) => {
    const transport = new FileTransport(repo.dir);
    const reader = new RepoReader(transport);
    const manifest = await reader.manifest(1);
    const disk = manifest.disks[0]!;
    if (disk.shape !== "block") throw new Error("expected a block disk");
    const layout = await prepareCache(join(scratch, "cache"));
    for (let pull = 1; pull <= pulls; pull++) {
      const source = await ChunkSource.open(layout.packs, reader, manifest, { framesOnArrival: true });
      try {
        const context = { repository: reader.url, version: 1 };
        const index = await readStreamIndex(layout.objects, transport, context, disk.blocks);
        const seen: Array<{ bytes: number; prefix: Buffer }> = [];
        let stream: Buffer | undefined;
        const result = await readStream(
          source,
          index,
          undefined,
          (length) => {
            stream = Buffer.alloc(length);
            return stream;
          },
          (bytes) => seen.push({ bytes, prefix: Buffer.from(stream!.subarray(0, bytes)) }),
        );
        const whole = Buffer.concat(await reader.blockMap(manifest, disk.blocks));
        expect(result.equals(whole)).toBe(true);
        expect(seen.at(-1)!.bytes).toBe(whole.length);
        for (const { bytes, prefix } of seen) expect(prefix.equals(whole.subarray(0, bytes))).toBe(true);
        if (pull === 1) expect(seen.length).toBeGreaterThan(2); // runs as they came, and the end
      } finally {
        await source.close();
      }
    }
  });
});
