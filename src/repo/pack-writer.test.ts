import { hash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Compression, type CompressionMethod, decompressFrame } from "./compression.js";
import { PackIndex } from "./pack-index.js";
import { PackWriter } from "./pack-writer.js";
import { TempDirs } from "./repo-test-kit.js";

const temp = new TempDirs();
afterAll(() => temp.cleanup());

/**
 * Chunks as a publish meets them: runs of text (compressible), runs of random bytes (stored raw without
 * trying the compressor), a lone tiny chunk; several frames of each.
 */
function mixedChunks(): Buffer[] {
  const text = readFileSync(new URL(import.meta.url));
  const chunks: Buffer[] = [];
  for (let run = 0; run < 12; run++) {
    for (let i = 0; i < 60; i++) {
      const size = 1000 + ((run * 7919 + i * 104_729) % 7000);
      if (run % 3 === 2) chunks.push(randomBytes(size));
      else
        chunks.push(
          Buffer.from(
            `${run}.${i} ${text.toString("latin1").repeat(1 + Math.floor(size / text.length))}`.slice(
              0,
              size,
            ),
          ),
        );
    }
    if (run === 5) chunks.push(Buffer.from("x"));
  }
  return chunks;
}

async function writePack(
  chunks: Buffer[],
  method: CompressionMethod,
): Promise<{ pack: Buffer; index: Buffer }> {
  const dir = temp.make("pack");
  mkdirSync(join(dir, "packs"));
  const writer = await PackWriter.create(dir, "test", method);
  for (const chunk of chunks) await writer.add(hash("sha256", chunk, "buffer"), chunk);
  const { id } = await writer.finish(join(dir, "packs"));
  expect(readdirSync(join(dir, "packs")).sort()).toEqual([`${id}.idx`, `${id}.pack`]);
  return {
    pack: readFileSync(join(dir, "packs", `${id}.pack`)),
    index: readFileSync(join(dir, "packs", `${id}.idx`)),
  };
}

// zstd is what publishes write; the others are what older repositories hold and readers still decode.
describe.each([
  ["zstd", Compression.zstd],
  ["brotli", Compression.brotli],
  ["deflate", Compression.deflate],
] as const)("PackWriter with %s", (_name, method) => {
  it("stores every chunk where its index says, in compressed frames and raw ones", async () => {
    const chunks = mixedChunks();
    const { pack, index: bytes } = await writePack(chunks, method);
    const index = new PackIndex("test", bytes);
    expect(index.compression).toBe(method);
    expect(index.count).toBe(chunks.length);
    let raw = 0;
    for (let f = 0; f < index.frameCount; f++)
      if (index.frameStoredLength(f) === index.frameRawLength(f)) raw++;
    expect(raw).toBeGreaterThan(0); // the random runs
    expect(raw).toBeLessThan(index.frameCount); // the text runs
    for (const chunk of chunks) {
      const position = index.indexOf(hash("sha256", chunk, "buffer"));
      const frame = index.frameAt(index.frameOf(position));
      const stored = pack.subarray(frame.offset, frame.offset + frame.storedLength);
      const frameBytes = decompressFrame(stored, frame.rawLength, index.compression);
      const at = index.offsetInFrame(position);
      expect(frameBytes.subarray(at, at + index.rawLength(position)).equals(chunk)).toBe(true);
    }
  });

  it("writes the same pack for the same chunks (a republish elsewhere makes the same pack id)", async () => {
    const chunks = mixedChunks();
    const first = await writePack(chunks, method);
    const second = await writePack(chunks, method);
    expect(second.index.equals(first.index)).toBe(true);
    expect(second.pack.equals(first.pack)).toBe(true);
  });
});

describe("PackWriter with a pack larger than its write buffers", () => {
  it("writes every frame in order while later frames are compressed, across early flushes to disk", async () => {
    // 41 MB of random chunks: stored raw, so the pack crosses nine 4 MiB write buffers and the 32 MiB
    // mark where the pack is first flushed to disk in the background.
    const chunks = Array.from({ length: 5_120 }, (_, i) => randomBytes(8_000 + (i % 7) * 31));
    const { pack, index: bytes } = await writePack(chunks, Compression.zstd);
    const index = new PackIndex("test", bytes);
    expect(pack.length).toBeGreaterThan(33 << 20);
    for (const [n, chunk] of chunks.entries()) {
      if (n % 97 !== 0 && n !== chunks.length - 1) continue; // a sample, and the last chunk
      expect(chunkInPack(pack, index, chunk).equals(chunk)).toBe(true);
    }
    const lastFrame = index.frameAt(index.frameCount - 1);
    expect(lastFrame.offset + lastFrame.storedLength).toBe(pack.length);
  });
});

describe("PackWriter on a disk that takes less than asked", () => {
  it("writes the whole pack when every write is short", async () => {
    // A filling disk's write(2) writes what fits and returns fewer bytes than asked (tmpfs did so with
    // a 4 MiB buffer: 1,032,192 bytes); taken as success, that left a truncated pack.
    const dir = temp.make("short");
    const probe = await open(join(dir, "probe"), "w");
    const prototype = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const write = prototype.write;
    let calls = 0;
    const spy = vi.spyOn(prototype, "write").mockImplementation(function (
      this: FileHandle,
      ...args: unknown[]
    ): Promise<never> {
      const [bytes, offset, length, position] = args;
      if (!(bytes instanceof Uint8Array) || typeof length !== "number")
        return Reflect.apply(write, this, args) as Promise<never>;
      calls++;
      return Reflect.apply(write, this, [bytes, offset, Math.min(length, 4_000), position]) as Promise<never>;
    });
    try {
      const chunks = mixedChunks();
      const { pack, index: bytes } = await writePack(chunks, Compression.zstd);
      const index = new PackIndex("test", bytes);
      const lastFrame = index.frameAt(index.frameCount - 1);
      expect(lastFrame.offset + lastFrame.storedLength).toBe(pack.length);
      expect(calls).toBeGreaterThan(pack.length / 4_000);
      for (const chunk of chunks) {
        expect(chunkInPack(pack, index, chunk).equals(chunk)).toBe(true);
      }
    } finally {
      spy.mockRestore();
    }
  });
});

/** The bytes the pack holds for `chunk` (found by its hash in the index, its frame decompressed). */
function chunkInPack(pack: Buffer, index: PackIndex, chunk: Buffer): Buffer {
  const position = index.indexOf(hash("sha256", chunk, "buffer"));
  const frame = index.frameAt(index.frameOf(position));
  const frameBytes = decompressFrame(
    pack.subarray(frame.offset, frame.offset + frame.storedLength),
    frame.rawLength,
    index.compression,
  );
  const at = index.offsetInFrame(position);
  return frameBytes.subarray(at, at + chunk.length);
}
