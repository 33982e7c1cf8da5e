import { describe, expect, it } from "vitest";
import type { BlockDisk } from "../repo/format.js";
import type { ChunkSource } from "./chunk-source.js";
import { BlockPlanner } from "./materialize-block.js";

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
