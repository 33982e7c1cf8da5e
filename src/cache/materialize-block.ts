/**
 * Writing a block disk (a VM image) from its block map: a sparse file of the disk's size, where holes in
 * the map (and all-zero pieces) stay holes; blocks are written from frames as a fetch brings them, and
 * the rest copied from the cache in pieces of a few MiB. Memory stays bounded whatever the image's size.
 */
import type { FileHandle } from "node:fs/promises";
import { CollectiveError } from "../errors.js";
import type { BlockDisk } from "../repo/format.js";
import { entryOf, packOf } from "./chunk-ref.js";
import type { ChunkSource } from "./chunk-source.js";
import { alignedPool, alignedSpan, alignUp, directAlign, writeFully, writevFully } from "./direct-io.js";

/** Where a block disk's data comes from: the block index of every non-hole entry and its chunk. */
export interface BlockPlan {
  readonly disk: BlockDisk;
  readonly blocks: Uint32Array;
  readonly refs: Float64Array;
}

/**
 * Plans a block disk from its block map, as much as has arrived: a pull feeds it the map's leading bytes
 * while the rest downloads (readStream's onAssembled), so that planning fills the wait for the map's
 * last frames instead of following it (about 50 ms for an image of 250,000 blocks).
 */
export class BlockPlanner {
  private readonly count: number;
  /** Typed arrays sized for every block, trimmed at the end: no object or array element per block. */
  private readonly blocks: Uint32Array;
  private readonly refs: Float64Array;
  /** The map as 32-bit words (holes are 8 zero words): a third of the time of a byte loop. */
  private readonly words: Int32Array | undefined;
  private present = 0;
  /** The first block not planned yet. */
  private next = 0;

  constructor(
    private readonly source: ChunkSource,
    private readonly disk: BlockDisk,
    private readonly blockMap: Buffer,
  ) {
    this.count = Math.ceil(disk.size / disk.chunkSize);
    if (blockMap.length !== this.count * 32) {
      throw new CollectiveError(
        "MANIFEST_INVALID",
        `the block map of disk ${disk.name} in ${source.context.repository} version ${source.context.version} has ${blockMap.length / 32} entries, expected ${this.count} for ${disk.size} bytes in ${disk.chunkSize}-byte chunks`,
        { hint: "The repository is damaged; run `cui repo verify` on it." },
      );
    }
    this.blocks = new Uint32Array(this.count);
    this.refs = new Float64Array(this.count);
    this.words =
      blockMap.byteOffset % 4 === 0
        ? new Int32Array(blockMap.buffer, blockMap.byteOffset, blockMap.length / 4)
        : undefined;
  }

  /** Plans the blocks whose entries lie in the map's first `bytes` bytes (those bytes are final). */
  advance(bytes: number): void {
    const end = Math.min(this.count, Math.floor(bytes / 32));
    const { blocks, refs, words, blockMap, source } = this;
    let present = this.present;
    for (let i = this.next; i < end; i++) {
      if (words === undefined ? isZeroHash(blockMap, i * 32) : isZeroWords(words, i * 8)) continue; // a hole
      blocks[present] = i;
      refs[present++] = source.locate(blockMap, i * 32); // no view per block: 262,144 of them for 1 GiB
    }
    this.present = present;
    this.next = Math.max(this.next, end);
  }

  /** The plan, once the whole map has arrived. */
  finish(): BlockPlan {
    this.advance(this.count * 32);
    // Views, not copies: a copy would be more fresh memory to touch (slow here: direct-io.ts).
    const { disk, blocks, refs, present } = this;
    return { disk, blocks: blocks.subarray(0, present), refs: refs.subarray(0, present) };
  }
}

/** Largest piece of the image read from the cache and written at once. */
const pieceBytes = 4 * 1024 * 1024;

/** Whether a block disk can be written with O_DIRECT: its chunks, and so its pieces, are aligned. */
export function blockDiskAligned(disk: BlockDisk): boolean {
  return disk.chunkSize % directAlign === 0;
}

/**
 * Writes a block disk into `handle` (a new, empty file), in two ways:
 *
 * - frames(): as the fetch verifies frames (a ChunkSource FrameSink), the blocks whose chunks are in them
 *   are written from memory at once, so a cold fetch writes the image while it downloads;
 * - finish(): the blocks still unwritten (chunks the cache already had) are copied from the cache in
 *   pieces: runs of consecutive blocks whose chunks follow each other in the cache (a version's new
 *   blocks are published in order, so most of an image is long pieces), each read into one of two
 *   buffers while the previous piece is being written.
 *
 * All-zero pieces and holes in the map stay holes. With `direct` (the file was opened with O_DIRECT:
 * direct-io.ts) every write comes from an aligned buffer, and a partial last block is written padded and
 * cut off by the final truncate. Memory: the plan's typed arrays (12 bytes a block), one byte and a
 * chain link a block while frames arrive, and two pieces.
 */
export class BlockDiskWriter {
  /** 1 for a planned block already written from an arriving frame. */
  private readonly written: Uint8Array;
  /** Per pack and chunk: the first plan position using it, chained through `next` (-1 ends). */
  private firstUse: Array<Int32Array | undefined> | undefined;
  private next: Int32Array | undefined;

  constructor(
    private readonly source: ChunkSource,
    private readonly plan: BlockPlan,
    private readonly handle: FileHandle,
    private readonly direct: boolean,
  ) {
    this.written = new Uint8Array(plan.refs.length);
  }

  async begin(): Promise<void> {
    await this.handle.truncate(this.plan.disk.size);
  }

  /** A FrameSink: writes the blocks whose chunks are in these frames (consecutive frames of one pack). */
  readonly frames = async (pack: number, first: number, raws: readonly Buffer[]): Promise<void> => {
    const { blocks } = this.plan;
    const { firstUse, next } = this.uses();
    const uses = firstUse[pack];
    if (uses === undefined) return;
    const index = this.source.packIndex(pack);
    // The blocks these frames bring, and where each one's bytes lie, in arrays of numbers: no object or
    // view per block (a cold fetch of an image of 1 KiB blocks brings 90,000 of them).
    const pieces: Pieces = { positions: [], raws: [], offsets: [], lengths: [] };
    let sorted = true;
    let last = -1;
    for (let i = 0; i < raws.length; i++) {
      const entries = index.entriesOfFrame(first + i);
      for (let e = 0; e < entries.length; e++) {
        const entry = entries[e]!;
        const at = index.offsetInFrame(entry);
        for (let k = uses[entry]!; k >= 0; k = next[k]!) {
          if (k < last) sorted = false;
          last = k;
          pieces.positions.push(k);
          pieces.raws.push(i);
          pieces.offsets.push(at);
          pieces.lengths.push(this.length(k));
          this.written[k] = 1;
        }
      }
    }
    // Plan positions follow the blocks' order; a cold fetch brings them in that order already.
    const order = inPlanOrder(pieces.positions, sorted);
    // Runs of consecutive blocks, one write each (for a cold fetch, usually the whole run of frames).
    for (let p = 0; p < order.length; ) {
      let q = p + 1;
      let bytes = pieces.lengths[order[p]!]!;
      while (
        q < order.length &&
        blocks[pieces.positions[order[q]!]!] === blocks[pieces.positions[order[q - 1]!]!]! + 1 &&
        bytes < pieceBytes
      )
        bytes += pieces.lengths[order[q++]!]!;
      await this.writeRun(raws, pieces, order.subarray(p, q), bytes);
      p = q;
    }
  };

  /** Copies the blocks no frame brought from the cache, then trims a padded last block. */
  async finish(): Promise<void> {
    const buffers = [alignedPool.acquire(pieceBytes), alignedPool.acquire(pieceBytes)];
    try {
      await this.copyFromCache(buffers);
    } finally {
      for (const buffer of buffers) alignedPool.release(buffer);
    }
    if (this.direct) await this.handle.truncate(this.plan.disk.size);
  }

  private async copyFromCache(buffers: Buffer[]): Promise<void> {
    const { source } = this;
    const { disk, blocks, refs } = this.plan;
    let writing: Promise<void> = Promise.resolve();
    let turn = 0;
    for (let k = 0; k < refs.length; ) {
      if (this.written[k] === 1) {
        k++;
        continue;
      }
      const first = k;
      let bytes = this.length(k++);
      while (
        k < refs.length &&
        this.written[k] === 0 &&
        blocks[k] === blocks[k - 1]! + 1 &&
        source.adjacent(refs[k - 1]!, refs[k]!) &&
        bytes + disk.chunkSize <= pieceBytes
      )
        bytes += this.length(k++);
      // Not the buffer of the write in flight: the other one, whose write has finished (awaited below).
      const piece = await source.readFrom(refs[first]!, bytes, buffers[turn]!);
      await writing;
      if (isAllZero(piece)) continue; // a hole; this buffer is free again
      writing = writeFully(this.handle, this.padded(buffers[turn]!, bytes), blocks[first]! * disk.chunkSize);
      turn ^= 1;
    }
    await writing;
  }

  /**
   * Writes the pieces `run` names (consecutive blocks, `bytes` in all): with O_DIRECT from where they lie
   * when that is one aligned span of a buffer (a cold fetch's frames hold a run's blocks back to back),
   * else gathered into an aligned buffer; without O_DIRECT, vectored.
   */
  private async writeRun(
    raws: readonly Buffer[],
    pieces: Pieces,
    run: Uint32Array,
    bytes: number,
  ): Promise<void> {
    const position = this.plan.blocks[pieces.positions[run[0]!]!]! * this.plan.disk.chunkSize;
    const parts = contiguousParts(raws, pieces, run);
    if (!this.direct) {
      await writevFully(this.handle, parts, position);
      return;
    }
    const laidOut =
      parts.length === 1 ? alignedSpan(parts[0]!.buffer, parts[0]!.byteOffset, bytes) : undefined;
    if (laidOut !== undefined) {
      await writeFully(this.handle, laidOut, position);
      return;
    }
    await alignedPool.with(alignUp(bytes), async (staging) => {
      let at = 0;
      for (const part of parts) {
        staging.set(part, at);
        at += part.length;
      }
      await writeFully(this.handle, this.padded(staging, bytes), position);
    });
  }

  /** The first `bytes` of `buffer`, and for O_DIRECT zero-padded to whole blocks (the disk's partial last one). */
  private padded(buffer: Buffer, bytes: number): Buffer {
    if (!this.direct) return buffer.subarray(0, bytes);
    return buffer.fill(0, bytes, alignUp(bytes)).subarray(0, alignUp(bytes));
  }

  /** The chain of plan positions per chunk, built when the first frames arrive. */
  private uses(): { firstUse: Array<Int32Array | undefined>; next: Int32Array } {
    if (this.firstUse === undefined || this.next === undefined) {
      const { refs } = this.plan;
      const firstUse = new Array<Int32Array | undefined>(this.source.packCount);
      const next = new Int32Array(refs.length);
      for (let k = refs.length - 1; k >= 0; k--) {
        const pack = packOf(refs[k]!);
        let uses = firstUse[pack];
        if (uses === undefined) {
          uses = new Int32Array(this.source.packIndex(pack).count).fill(-1);
          firstUse[pack] = uses;
        }
        const entry = entryOf(refs[k]!);
        next[k] = uses[entry]!;
        uses[entry] = k;
      }
      this.firstUse = firstUse;
      this.next = next;
    }
    return { firstUse: this.firstUse, next: this.next };
  }

  /** The length of the chunk at plan position k, checked against the disk's geometry. */
  private length(k: number): number {
    const { disk, blocks, refs } = this.plan;
    const block = blocks[k]!;
    const actual = this.source.rawLength(refs[k]!);
    const expected = Math.min(disk.chunkSize, disk.size - block * disk.chunkSize);
    if (actual !== expected) {
      throw new CollectiveError(
        "CHUNK_CORRUPT",
        `block ${block} of disk ${disk.name} in ${this.source.context.repository} version ${this.source.context.version} has ${actual} bytes, expected ${expected}`,
        { hint: "The repository is damaged; run `cui repo verify` on it." },
      );
    }
    return actual;
  }
}

/** The blocks a run of frames brings (BlockDiskWriter.frames): per piece, its plan position and where it lies. */
export interface Pieces {
  readonly positions: number[];
  /** Which of the run's frames holds it, at which offset, and its length. */
  readonly raws: number[];
  readonly offsets: number[];
  readonly lengths: number[];
}

/** The indices of `positions` in ascending order of position: 0, 1, 2... when they are `sorted` already. */
function inPlanOrder(positions: readonly number[], sorted: boolean): Uint32Array {
  const order = new Uint32Array(positions.length);
  for (let j = 0; j < order.length; j++) order[j] = j;
  return sorted ? order : order.sort((a, b) => positions[a]! - positions[b]!);
}

/** Whether the 32 bytes at `at` are zero: a byte loop that stops at the first non-zero byte (the first, for a real hash). */
function isZeroHash(map: Buffer, at: number): boolean {
  for (let k = at; k < at + 32; k++) if (map[k] !== 0) return false;
  return true;
}

/** isZeroHash over the map's 32-bit words, the entry starting at word `at`. */
function isZeroWords(words: Int32Array, at: number): boolean {
  for (let k = at; k < at + 8; k++) if (words[k] !== 0) return false;
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

/**
 * The pieces `run` names as few views as they allow: blocks that lie back to back in memory (a cold
 * fetch's frames hold a run's blocks in order) make one view. A view per 1 KiB block made 115,909 writev
 * parts for the bench image, each a view to make and check on the main thread; this makes 1,432
 * (docs/benchmarks.md, twelfth pass).
 */
export function contiguousParts(raws: readonly Buffer[], pieces: Pieces, run: Uint32Array): Uint8Array[] {
  const { raws: rawOf, offsets, lengths } = pieces;
  const parts: Uint8Array[] = [];
  let memory: ArrayBufferLike | undefined;
  let start = 0;
  let end = 0;
  for (let r = 0; r < run.length; r++) {
    const j = run[r]!;
    const raw = raws[rawOf[j]!]!;
    const from = raw.byteOffset + offsets[j]!;
    if (raw.buffer === memory && from === end) {
      end += lengths[j]!;
      continue;
    }
    if (memory !== undefined) parts.push(new Uint8Array(memory, start, end - start));
    memory = raw.buffer;
    start = from;
    end = from + lengths[j]!;
  }
  if (memory !== undefined) parts.push(new Uint8Array(memory, start, end - start));
  return parts;
}
