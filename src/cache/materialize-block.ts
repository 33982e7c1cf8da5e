/**
 * Writing a block disk (a VM image) from its block map: a sparse file of the disk's size, where holes in
 * the map (and chunks that are all zero) stay holes, and runs of present chunks are written with one
 * vectored write each. Memory stays bounded by the window, whatever the image's size.
 */
import type { FileHandle } from "node:fs/promises";
import { CollectiveError } from "../errors.js";
import type { BlockDisk } from "../repo/format.js";
import type { ChunkSource } from "./chunk-source.js";

/** Chunks handled per window (4096 x 4 KiB = 16 MiB of image). */
const windowChunks = 4096;

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
    const chunkHash = blockMap.subarray(i * 32, i * 32 + 32);
    if (isAllZero(chunkHash)) continue; // a hole
    blocks[present] = i;
    refs[present++] = source.locate(chunkHash);
  }
  return { disk, blocks: blocks.slice(0, present), refs: refs.slice(0, present) };
}

/** Writes the disk into `handle` (a new, empty file) from chunks already in the cache. */
export async function writeBlockDisk(
  source: ChunkSource,
  plan: BlockPlan,
  handle: FileHandle,
): Promise<void> {
  const { disk, blocks, refs } = plan;
  await handle.truncate(disk.size);
  for (let first = 0; first < refs.length; first += windowChunks) {
    const last = Math.min(refs.length, first + windowChunks);
    const chunks = await source.read(refs.subarray(first, last));
    let run: Buffer[] = [];
    let runStart = -1;
    let runNext = -1;
    const flush = async (): Promise<void> => {
      if (run.length > 0) await handle.writev(run, runStart * disk.chunkSize);
      run = [];
    };
    for (let k = first; k < last; k++) {
      const block = blocks[k]!;
      const chunk = chunks[k - first]!;
      const expected = Math.min(disk.chunkSize, disk.size - block * disk.chunkSize);
      if (chunk.length !== expected) {
        throw new CollectiveError(
          "CHUNK_CORRUPT",
          `block ${block} of disk ${disk.name} in ${source.context.repository} version ${source.context.version} has ${chunk.length} bytes, expected ${expected}`,
          { hint: "The repository is damaged; run `cui repo verify` on it." },
        );
      }
      if (isAllZero(chunk)) continue; // leave a hole
      if (block !== runNext || run.length >= 1024) {
        await flush();
        runStart = block;
      }
      run.push(chunk);
      runNext = block + 1;
    }
    await flush();
  }
}

const zeroPage = Buffer.alloc(65536);

function isAllZero(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += zeroPage.length) {
    const end = Math.min(bytes.length, at + zeroPage.length);
    if (zeroPage.compare(bytes, at, end, 0, end - at) !== 0) return false;
  }
  return true;
}
