import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IDX_ENTRY, IDX_HEADER, IndexBuilder, PackIndex } from "./pack-index.js";

/** An index of `count` random chunks of 100 bytes, 10 per frame; some hashes share their first bytes. */
function build(count: number): { bytes: Buffer; hashes: Buffer[] } {
  const builder = new IndexBuilder();
  const hashes: Buffer[] = [];
  let offset = 16;
  for (let i = 0; i < count; i++) {
    const hash = randomBytes(32);
    if (i % 7 === 1) hashes[i - 1]!.copy(hash, 0, 0, 3 + (i % 20)); // a shared prefix of 3-22 bytes
    hashes.push(hash);
    builder.add(hash, Math.floor(i / 10), (i % 10) * 100, 100);
    if (i % 10 === 9 || i === count - 1) {
      builder.addFrame(offset, 500, 1000);
      offset += 500;
    }
  }
  return { bytes: builder.encode(2), hashes };
}

/** An index of the given hashes, one frame. */
function buildFrom(hashes: Buffer[]): Buffer {
  const builder = new IndexBuilder();
  for (const [i, hash] of hashes.entries()) builder.add(hash, 0, i * 100, 100);
  builder.addFrame(16, 100, hashes.length * 100);
  return builder.encode(2);
}

describe("pack indexes", () => {
  it("sorts entries by hash and finds every chunk and its frame", () => {
    const { bytes, hashes } = build(5000);
    const index = new PackIndex("test", bytes);
    expect(index.count).toBe(5000);
    expect(index.frameCount).toBe(500);
    hashes.forEach((hash, i) => {
      const position = index.indexOf(hash);
      expect(index.hashAt(position).equals(hash)).toBe(true);
      expect(index.frameOf(position)).toBe(Math.floor(i / 10));
      expect(index.offsetInFrame(position)).toBe((i % 10) * 100);
    });
    expect(index.indexOf(randomBytes(32))).toBe(-1);
    // A hash inside a larger buffer (a block map), found in place; and near misses stay misses.
    const map = Buffer.concat([randomBytes(5), hashes[123]!, randomBytes(7)]);
    expect(index.hashAt(index.indexOf(map, 5)).equals(hashes[123]!)).toBe(true);
    for (const hash of [hashes[0]!, hashes[4999]!, hashes[77]!]) {
      const near = Buffer.from(hash);
      near[31]! ^= 1;
      expect(index.indexOf(near)).toBe(-1);
    }
    // The smallest and largest 16-bit prefixes (the ends of the prefix table).
    const edges = new PackIndex("edges", buildFrom([Buffer.alloc(32, 0), Buffer.alloc(32, 0xff)]));
    expect(edges.indexOf(Buffer.alloc(32, 0))).toBe(0);
    expect(edges.indexOf(Buffer.alloc(32, 0xff))).toBe(1);
    expect(edges.indexOf(Buffer.alloc(32, 0x80))).toBe(-1);
    const inFrame = [...index.entriesOfFrame(42)].map((e) => index.offsetInFrame(e)).sort((a, b) => a - b);
    expect(inFrame).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  });

  it("reads an index that lies inside a larger buffer, at an odd offset", () => {
    const { bytes, hashes } = build(300);
    const outer = Buffer.alloc(bytes.length + 13, 0xee);
    bytes.copy(outer, 5);
    const index = new PackIndex("inner", outer.subarray(5, 5 + bytes.length));
    hashes.forEach((hash, i) => {
      const position = index.indexOf(hash);
      expect(index.hashAt(position).equals(hash)).toBe(true);
      expect(index.frameOf(position)).toBe(Math.floor(i / 10));
      expect(index.rawLength(position)).toBe(100);
    });
    expect(index.frameAt(29)).toEqual({ offset: 16 + 29 * 500, storedLength: 500, rawLength: 1000 });
  });

  it("tells hashes apart in their last bytes, high bits set (compared as unsigned words)", () => {
    const low = Buffer.alloc(32, 0xff);
    low[31] = 0xfe;
    const high = Buffer.alloc(32, 0xff);
    const index = new PackIndex("high", buildFrom([high, low]));
    expect(index.indexOf(low)).toBe(0);
    expect(index.indexOf(high)).toBe(1);
    const between = Buffer.alloc(32, 0xff);
    between[3] = 0x7f;
    expect(index.indexOf(between)).toBe(-1);
  });

  it("rejects entries out of order, chunks outside their frame and frames that are not back to back", () => {
    const { bytes } = build(30);
    const swapped = Buffer.from(bytes);
    bytes.copy(swapped, IDX_HEADER, IDX_HEADER + IDX_ENTRY, IDX_HEADER + 2 * IDX_ENTRY);
    bytes.copy(swapped, IDX_HEADER + IDX_ENTRY, IDX_HEADER, IDX_HEADER + IDX_ENTRY);
    expect(() => new PackIndex("x", swapped)).toThrow(/not sorted by hash/);
    const twice = Buffer.from(bytes);
    bytes.copy(twice, IDX_HEADER + IDX_ENTRY, IDX_HEADER, IDX_HEADER + 32); // entry 1's hash = entry 0's
    expect(() => new PackIndex("x", twice)).toThrow(/not sorted by hash/);
    const outside = Buffer.from(bytes);
    outside.writeUInt32BE(950, IDX_HEADER + 36);
    expect(() => new PackIndex("x", outside)).toThrow(/does not lie inside its frame/);
    const gap = Buffer.from(bytes);
    const frames = IDX_HEADER + 30 * IDX_ENTRY;
    gap.writeBigUInt64BE(600n, frames + 16);
    expect(() => new PackIndex("x", gap)).toThrow(/is not where frame 0 ends/);
    const far = Buffer.from(bytes);
    far.writeUInt32BE(1, frames + 16); // the high word of frame 1's 64-bit offset
    expect(() => new PackIndex("x", far)).toThrow(/is not where frame 0 ends/);
    const huge = Buffer.from(bytes);
    huge.writeUInt32BE(2 << 20, frames + 12);
    expect(() => new PackIndex("x", huge)).toThrow(/impossible lengths/);
    const unknownMethod = Buffer.from(bytes);
    unknownMethod.writeUInt8(4, 6);
    expect(() => new PackIndex("x", unknownMethod)).toThrow(
      /uses compression method 4; this cui reads methods 0 to 3/,
    );
  });
});
