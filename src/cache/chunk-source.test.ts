import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FileTransport } from "../repo/file-transport.js";
import { RepoReader } from "../repo/repo-reader.js";
import { prepareCache } from "./cache-dir.js";
import { chunkRef, entryOf, packOf } from "./chunk-ref.js";
import { type ChunkRef, ChunkSource, type ChunkSourceOptions } from "./chunk-source.js";
import { startVerifierThread } from "./frame-verifier.js";
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
async function openSource(
  version = 1,
  options: ChunkSourceOptions = {},
  cache = "cache",
): Promise<{ source: ChunkSource; refs: ChunkRef[] }> {
  const reader = new RepoReader(new FileTransport(repo.dir));
  const manifest = await reader.manifest(version);
  const layout = await prepareCache(join(scratch, cache));
  const source = await ChunkSource.open(layout.packs, reader, manifest, {
    batchBytes: 256 * 1024,
    ...options,
  });
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

describe("a damaged frame", () => {
  /** Publishes version 2: 3 MiB of text-like blocks (compressed frames) and random ones (stored raw) by turns. */
  async function publishMixed(): Promise<Buffer> {
    const mixed = Buffer.alloc(768 * 4096);
    for (let i = 0; i < 768; i++) {
      const block = mixed.subarray(i * 4096, (i + 1) * 4096);
      if (Math.floor(i / 40) % 2 === 0) block.fill(`block ${i} of a text-like image; `);
      else randomBytes(4096).copy(block);
    }
    await writeFile(join(scratch, "sources", "mixed.img"), mixed);
    await repo.publishImage(join(scratch, "sources", "mixed.img"));
    return mixed;
  }

  it("is fetched and stored whole when intact, frames compressed and stored raw alike", async () => {
    const mixed = await publishMixed();
    const { source, refs } = await openSource(2);
    try {
      await source.ensure(refs);
      expect(Buffer.concat(await source.read(refs)).equals(mixed)).toBe(true);
    } finally {
      await source.close();
    }
  });

  for (const kind of ["compressed", "stored raw"] as const) {
    it(`${kind}: is named with its chunk and offset, and none of it is cached`, async () => {
      await publishMixed();
      // Damage the middle of the first frame of that kind, in the repository's pack.
      const probe = await openSource(2, {}, "probe");
      let damaged: { pack: string; offset: number } | undefined;
      for (let p = 0; p < probe.source.packCount && damaged === undefined; p++) {
        const index = probe.source.packIndex(p);
        for (let f = 0; f < index.frameCount; f++) {
          const { offset, storedLength } = index.frameAt(f);
          if ((storedLength === index.frameRawLength(f)) === (kind === "stored raw")) {
            damaged = { pack: index.id, offset: offset + Math.floor(storedLength / 2) };
            break;
          }
        }
      }
      await probe.source.close();
      if (damaged === undefined) throw new Error(`no frame ${kind} in the test image`);
      const handle = await open(join(repo.dir, "packs", `${damaged.pack}.pack`), "r+");
      await handle.write(Buffer.from("XXXXXXXXXXXXXXXX"), 0, 16, damaged.offset);
      await handle.close();

      const { source, refs } = await openSource(2);
      try {
        const error = await source.ensure(refs).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: "CHUNK_CORRUPT" });
        expect((error as Error).message).toMatch(
          new RegExp(
            `^file://${repo.dir} version 2: chunk [0-9a-f]{64} \\(pack ${damaged.pack}\\) (is corrupt: frame \\d+: cannot decompress|does not match its hash).* at offset \\d+$`,
          ),
        );
        // Nothing of the damaged frame entered the cache: reading its chunks is reading the unfetched.
        const inDamaged = refs.filter((ref) => {
          const index = source.packIndex(packOf(ref));
          const { offset, storedLength } = index.frameAt(index.frameOf(entryOf(ref)));
          return (
            index.id === damaged.pack && offset <= damaged.offset && damaged.offset < offset + storedLength
          );
        });
        expect(inDamaged.length).toBeGreaterThan(0);
        await expect(source.read(inDamaged.slice(0, 1))).rejects.toMatchObject({ code: "INTERNAL" });
      } finally {
        await source.close();
      }
    });
  }
});

describe("a fetch whose frames are used as they arrive (images)", () => {
  it("hands the verifier thread the index of each pack the cache lacks frames of, as it opens", async () => {
    startVerifierThread();
    const sent = vi.spyOn(Worker.prototype, "postMessage");
    const indexesSent = (): number =>
      sent.mock.calls.filter(([message]) => (message as { kind: string }).kind === "pack").length;
    const opened = async (): Promise<{ source: ChunkSource; refs: ChunkRef[] }> => {
      sent.mockClear();
      return openSource(1, { framesOnArrival: true });
    };
    try {
      // An empty cache; then one with some of the pack's frames; then one with all of them.
      const empty = await opened();
      expect(empty.source.packCount).toBe(1);
      expect(indexesSent()).toBe(1);
      await empty.source.ensure(empty.refs.slice(0, 16));
      await empty.source.close();
      const partial = await opened();
      expect(indexesSent()).toBe(1);
      // Every chunk of the pack (the block map's too, which this test read around the cache).
      const pack = partial.source.packIndex(0);
      await partial.source.ensure(Array.from({ length: pack.count }, (_, entry) => chunkRef(0, entry)));
      await partial.source.close();
      const whole = await opened();
      expect(indexesSent()).toBe(0);
      await whole.source.close();
      // A fetch of trees keeps its frames on the calling thread: nothing is sent.
      sent.mockClear();
      const tree = await openSource(1, {}, "other-cache");
      expect(indexesSent()).toBe(0);
      await tree.source.close();
    } finally {
      sent.mockRestore();
    }
  });
});
