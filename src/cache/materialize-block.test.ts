import { describe, expect, it } from "vitest";
import type { BlockDisk } from "../repo/format.js";
import type { ChunkSource } from "./chunk-source.js";
import { BlockPlanner, contiguousParts, type Pieces } from "./materialize-block.js";

/** Only what BlockPlanner asks of a source: a chunk's place is its hash's last byte (a stand-in). */
const fakeSource = {
  context: { repository: "file:///repo", version: 3 },
  locate: (hashes: Uint8Array, at: number) => hashes[at + 31]! * 10,
} as unknown as ChunkSource;

const disk = (blocks: number): BlockDisk => ({
  name: "virtio0",
  shape: "block",
  size: blocks * 1024 - 100, // a partial last block
  chunkSize: 1024,
  blocks: "0".repeat(64),
  format: "raw",
});

/** A map of `count` entries where every third is a hole and the others start and end with 1 + index % 200. */
function blockMap(count: number, offset = 0): Buffer {
  const memory = Buffer.alloc(offset + count * 32);
  for (let i = 0; i < count; i++) {
    if (i % 3 === 0) continue;
    memory[offset + i * 32] = 1 + (i % 200);
    memory[offset + i * 32 + 31] = 1 + (i % 200);
  }
  return memory.subarray(offset);
}

describe("BlockPlanner", () => {
  it.each([
    ["all at once", [], 0],
    ["in pieces that end inside entries", [0, 31, 32 * 10 + 5, 32 * 10 + 5, 32 * 250, 32 * 999], 0],
    ["from a map not aligned to 4 bytes", [32 * 500], 1],
  ])("plans every block that is not a hole, in order: %s", (_, pieces, offset) => {
    const count = 1000;
    const complete = blockMap(count);
    // The map as it arrives: only the bytes said to be there are filled in when advance() is called.
    const map = Buffer.alloc(offset + count * 32).subarray(offset);
    const planner = new BlockPlanner(fakeSource, disk(count), map);
    for (const bytes of pieces) {
      complete.copy(map, 0, 0, bytes);
      planner.advance(bytes);
    }
    complete.copy(map);
    const plan = planner.finish();
    const expected = [...Array(count).keys()].filter((i) => i % 3 !== 0);
    expect([...plan.blocks]).toEqual(expected);
    expect([...plan.refs]).toEqual(expected.map((i) => (1 + (i % 200)) * 10));
  });

  it("refuses a map whose length does not fit the disk, naming disk, repository and version", () => {
    expect(() => new BlockPlanner(fakeSource, disk(1000), blockMap(999))).toThrow(
      /the block map of disk virtio0 in file:\/\/\/repo version 3 has 999 entries, expected 1000/,
    );
  });
});

describe("contiguousParts", () => {
  // Two frames back to back in one buffer (0-99 and 100-199) and a third in a buffer of its own (alloc,
  // not from: small Buffer.from copies share one pool, which would make them one buffer).
  const filled = (length: number, byte: (i: number) => number): Buffer => {
    const buffer = Buffer.alloc(length);
    for (let i = 0; i < length; i++) buffer[i] = byte(i);
    return buffer;
  };
  const memory = filled(200, (i) => i);
  const other = filled(100, (i) => 200 + (i % 50));
  const raws = [memory.subarray(0, 100), memory.subarray(100, 200), other];
  /** Pieces written "frame@offset+length", in run order. */
  const parse = (list: string): Array<[number, number, number]> =>
    list.split(" ").map((piece) => {
      const [, raw, offset, length] = /^(\d+)@(\d+)\+(\d+)$/.exec(piece)!;
      return [Number(raw), Number(offset), Number(length)];
    });

  // The views expected, "offset+length" in `memory`, or "other+length" for a view of the other buffer.
  it.each([
    ["one piece", "0@10+5", "10+5"],
    ["back to back in a frame: one view", "0@0+10 0@10+10 0@20+30", "0+50"],
    ["a gap between them: two", "0@0+10 0@11+10", "0+10 11+10"],
    ["out of order: each its own", "0@20+10 0@10+10", "20+10 10+10"],
    ["across two frames that lie back to back in memory: one", "0@90+10 1@0+10", "90+20"],
    ["the same bytes twice (a repeated block): two", "0@0+10 0@0+10", "0+10 0+10"],
    ["in another buffer at the offset where one would continue: two", "0@0+10 2@10+5", "0+10 other+5"],
  ])("%s", (_, written, expected) => {
    const list = parse(written);
    const given: Pieces = {
      positions: list.map((_, k) => k),
      raws: list.map(([raw]) => raw),
      offsets: list.map(([, offset]) => offset),
      lengths: list.map(([, , length]) => length),
    };
    const parts = contiguousParts(raws, given, Uint32Array.from(list.keys()));
    const where = (part: Uint8Array): string =>
      part.buffer === memory.buffer ? String(part.byteOffset - memory.byteOffset) : "other";
    expect(parts.map((part) => `${where(part)}+${part.length}`).join(" ")).toBe(expected);
    // The bytes are the pieces' bytes, in order.
    const wanted = Buffer.concat(
      list.map(([raw, offset, length]) => raws[raw]!.subarray(offset, offset + length)),
    );
    expect(Buffer.concat(parts)).toEqual(wanted);
  });
});
