import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isCollectiveError } from "../errors.js";
import { Compression, type CompressionMethod, compressFrame, decompressFrame } from "./compression.js";

const text = readFileSync(new URL(import.meta.url)).toString("latin1");
/** About 64 KiB of source text: a frame as publishing makes it from compressible files. */
const frame = Buffer.from(text.repeat(Math.ceil(65_536 / text.length)).slice(0, 65_536), "latin1");

const methods: ReadonlyArray<[string, CompressionMethod]> = [
  ["zstd", Compression.zstd],
  ["brotli", Compression.brotli],
  ["deflate", Compression.deflate],
];

function corruptCode(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isCollectiveError(error) ? error.code : `not a CollectiveError: ${String(error)}`;
  }
  return undefined;
}

describe.each(methods)("frames compressed with %s", (_name, method) => {
  it("come back byte for byte, smaller than they went in", () => {
    // Copied at once: a compressed frame may live in a scratch buffer the next call reuses.
    const stored = Buffer.from(compressFrame(frame, method));
    expect(stored.length).toBeLessThan(frame.length / 2);
    expect(decompressFrame(stored, frame.length, method).equals(frame)).toBe(true);
  });

  it("are stored raw when compressing does not make them smaller", () => {
    const random = randomBytes(65_536);
    const stored = compressFrame(random, method);
    expect(stored.length).toBe(random.length);
    expect(decompressFrame(stored, random.length, method).equals(random)).toBe(true);
  });

  it("decode into the buffer given (zstd) or into their own (the others), byte for byte either way", () => {
    const stored = Buffer.from(compressFrame(frame, method));
    const into = Buffer.alloc(frame.length + 4096, 0xee);
    const raw = decompressFrame(stored, frame.length, method, into);
    expect(raw.equals(frame)).toBe(true);
    expect(raw.buffer === into.buffer).toBe(method === Compression.zstd);
    // Nothing is written past the frame's raw length.
    expect(into.subarray(frame.length).every((b) => b === 0xee)).toBe(true);
  });

  // Hostile or damaged frames: every one is CHUNK_CORRUPT, none returns bytes or grows past its length.
  it.each([
    ["garbage", () => randomBytes(200), frame.length],
    ["truncated", (s: Buffer) => s.subarray(0, s.length - 7), frame.length],
    ["shorter than it claims", (s: Buffer) => s, frame.length - 1],
    ["longer than it claims", (s: Buffer) => s, frame.length + 1],
  ])("with a %s frame fail as corrupt", (_case, damage, rawLength) => {
    const stored = damage(Buffer.from(compressFrame(frame, method)));
    expect(corruptCode(() => decompressFrame(stored, rawLength, method))).toBe("CHUNK_CORRUPT");
    const into = Buffer.alloc(frame.length + 4096);
    expect(corruptCode(() => decompressFrame(stored, rawLength, method, into))).toBe("CHUNK_CORRUPT");
  });
});

describe("compression", () => {
  it("zstd stores text smaller than brotli at the quality publishing used before", () => {
    const zstd = compressFrame(frame, Compression.zstd).length;
    const brotli = compressFrame(frame, Compression.brotli).length;
    expect(zstd).toBeLessThanOrEqual(brotli);
  });

  it("rejects a frame of an unknown method as corrupt", () => {
    expect(corruptCode(() => decompressFrame(Buffer.alloc(10), 20, 9))).toBe("CHUNK_CORRUPT");
  });
});
