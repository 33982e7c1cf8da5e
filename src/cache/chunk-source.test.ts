import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileTransport } from "../repo/file-transport.js";
import { RepoReader } from "../repo/repo-reader.js";
import { prepareCache } from "./cache-dir.js";
import { type ChunkRef, ChunkSource } from "./chunk-source.js";
import { makeTestRepo, type TestRepo } from "./test-repo.js";

let scratch: string;
let repo: TestRepo;
let image: Buffer;

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-chunk-source-"));
  repo = await makeTestRepo(scratch);
  // 3 MiB of random blocks: several frames, fetched in batches of 256 KiB below.
  image = randomBytes(3 << 20);
  await writeFile(join(scratch, "sources", "disk.img"), image);
  await repo.publishImage(join(scratch, "sources", "disk.img"));
});

afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** The version's chunk source over a new cache, and the image's chunks in block order. */
async function openSource(): Promise<{ source: ChunkSource; refs: ChunkRef[] }> {
  const reader = new RepoReader(new FileTransport(repo.dir));
  const manifest = await reader.manifest(1);
  const layout = await prepareCache(join(scratch, "cache"));
  const source = await ChunkSource.open(layout.packs, reader, manifest, { batchBytes: 256 * 1024 });
  const disk = manifest.disks[0]!;
  if (disk.shape !== "block") throw new Error("expected a block disk");
  const refs = (await reader.blockMap(manifest, disk.blocks)).map((hash) => source.locate(hash));
  return { source, refs };
}

describe("ChunkSource.read", () => {
  it("waits for chunks a running ensure() has yet to fetch, and returns them whole", async () => {
    const { source, refs } = await openSource();
    try {
      const fetching = source.ensure(refs);
      // Asked for before the fetch has stored anything: the last chunks arrive last.
      const [tail, head] = await Promise.all([source.read(refs.slice(-16)), source.read(refs.slice(0, 16))]);
      await fetching;
      expect(Buffer.concat(head).equals(image.subarray(0, 16 * 4096))).toBe(true);
      expect(Buffer.concat(tail).equals(image.subarray(image.length - 16 * 4096))).toBe(true);
      expect(source.stats.fetchedChunks).toBe(refs.length);
    } finally {
      await source.close();
    }
  });

  it("fails with the fetch's error when the fetch it waits for fails", async () => {
    const { source, refs } = await openSource();
    try {
      const stop = new AbortController();
      const fetching = source.ensure(refs, stop.signal);
      const reading = source.read(refs.slice(-1));
      stop.abort(new Error("the user pressed Ctrl-C"));
      await expect(fetching).rejects.toThrow("Ctrl-C");
      await expect(reading).rejects.toThrow("Ctrl-C");
    } finally {
      await source.close();
    }
  });

  it("refuses, as a bug, to read a chunk no fetch is bringing", async () => {
    const { source, refs } = await openSource();
    try {
      await expect(source.read(refs.slice(0, 1))).rejects.toMatchObject({ code: "INTERNAL" });
    } finally {
      await source.close();
    }
  });
});
