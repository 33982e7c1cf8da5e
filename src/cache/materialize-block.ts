/**
 * Writing a block disk (a VM image) from its block map: a sparse file of the disk's size, where holes in
 * the map (and all-zero pieces) stay holes, and runs of present chunks are copied from the cache in
 * pieces of a few MiB. Memory stays bounded by two pieces and the plan's typed arrays (12 bytes a block),
 * whatever the image's size.
 */
import type { FileHandle } from "node:fs/promises";
import { CollectiveError } from "../errors.js";
import type { BlockDisk } from "../repo/format.js";
import type { ChunkSource } from "./chunk-source.js";

/** Where a block disk's data comes from: the block index of every non-hole entry and its chunk. */
export interface BlockPlan {
  readonly disk: BlockDisk;
  readonly blocks: Uint32Array;
  readonly refs: Float64Array;
}

export function planBlockDisk(source: ChunkSource, disk: BlockDisk, blockMap: Buffer): BlockPlan {
  const count = Math.ceil(disk.size / disk.chunkSize);
  if (blockMap.length !== count * 32) {
    throw new CollectiveError(
      "MANIFEST_INVALID",
      `the block map of disk ${disk.name} in ${source.context.repository} version ${source.context.version} has ${blockMap.length / 32} entries, expected ${count} for ${disk.size} bytes in ${disk.chunkSize}-byte chunks`,
      { hint: "The repository is damaged; run `cui repo verify` on it." },
    );
  }
  // Typed arrays sized for every block, trimmed at the end: no object or array element per block.
  const blocks = new Uint32Array(count);
  const refs = new Float64Array(count);
  let present = 0;
  for (let i = 0; i < count; i++) {
    if (isZeroHash(blockMap, i * 32)) continue; // a hole
    const chunkHash = blockMap.subarray(i * 32, i * 32 + 32);
    blocks[present] = i;
    refs[present++] = source.locate(chunkHash);
  }
  return { disk, blocks: blocks.slice(0, present), refs: refs.slice(0, present) };
}

/** Largest piece of the image read from the cache and written at once. */
const pieceBytes = 4 * 1024 * 1024;

/**
 * Writes the disk into `handle` (a new, empty file) from chunks already in the cache, in pieces: runs of
 * consecutive blocks whose chunks lie back to back in the cache (a version's new blocks are published in
 * order, so most of an image is long pieces), each read with one call into one of two buffers while the
 * previous piece is being written. All-zero pieces stay holes.
 */
export async function writeBlockDisk(
  source: ChunkSource,
  plan: BlockPlan,
  handle: FileHandle,
): Promise<void> {
  const { disk, blocks, refs } = plan;
  await handle.truncate(disk.size);
  const length = (k: number): number => {
    const block = blocks[k]!;
    const actual = source.rawLength(refs[k]!);
    const expected = Math.min(disk.chunkSize, disk.size - block * disk.chunkSize);
    if (actual !== expected) {
      throw new CollectiveError(
        "CHUNK_CORRUPT",
        `block ${block} of disk ${disk.name} in ${source.context.repository} version ${source.context.version} has ${actual} bytes, expected ${expected}`,
        { hint: "The repository is damaged; run `cui repo verify` on it." },
      );
    }
    return actual;
  };
  const buffers = [Buffer.allocUnsafe(pieceBytes), Buffer.allocUnsafe(pieceBytes)];
  let writing: Promise<void> = Promise.resolve();
  for (let k = 0, turn = 0; k < refs.length; turn ^= 1) {
    const first = k;
    let bytes = length(k++);
    while (
      k < refs.length &&
      blocks[k] === blocks[k - 1]! + 1 &&
      source.adjacent(refs[k - 1]!, refs[k]!) &&
      bytes + disk.chunkSize <= pieceBytes
    )
      bytes += length(k++);
    // The buffer of the piece before the previous one: its write has finished (awaited below).
    const piece = await source.readFrom(refs[first]!, bytes, buffers[turn]!);
    await writing;
    if (!isAllZero(piece)) writing = writeAll(handle, piece, blocks[first]! * disk.chunkSize);
  }
  await writing;
}

async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** Whether the 32 bytes at `at` are zero: a byte loop that stops at the first non-zero byte (the first, for a real hash). */
function isZeroHash(map: Buffer, at: number): boolean {
  for (let k = at; k < at + 32; k++) if (map[k] !== 0) return false;
  return true;
}

const zeroPage = Buffer.alloc(65536);

function isAllZero(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += zeroPage.length) {
    const end = Math.min(bytes.length, at + zeroPage.length);
    if (zeroPage.compare(bytes, at, end, 0, end - at) !== 0) return false;
  }
  return true;
}
