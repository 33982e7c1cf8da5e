/**
 * One repository pack as the host cache holds it: the pack's index (verified against the pack id), a
 * sparse file of its frames **decompressed and verified** (every chunk of a frame checked against its
 * hash), and a bitmap of which frames are present.
 *
 * Frames are laid out in the .frames file in the pack's own order, each at the next 4 KiB boundary after
 * the frame before it, so a chunk lies at its frame's place plus its offset in the frame, a version's
 * chunks that were published together are read back with few large reads, and every write and read is
 * aligned for O_DIRECT (direct-io.ts: the page cache is what a fetch spent most of its time on). A
 * frame's bit is set only after its chunks were checked and written; the bitmap is saved (atomically,
 * after an fdatasync of the data) every few dozen MiB, when a fetch fails and at its end, so an
 * interrupted fetch keeps what it had verified and never trusts what it had not.
 */
import { constants } from "node:fs";
import { type FileHandle, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { paths, readLimits } from "../repo/format.js";
import { writeFileAtomic } from "../repo/fs-atomic.js";
import { sha256Hex } from "../repo/meta-object.js";
import { PackIndex } from "../repo/pack-index.js";
import type { RepoTransport } from "../repo/transport.js";
import { keepInCache } from "./cache-dir.js";
import {
  alignDown,
  alignedPool,
  alignedView,
  alignUp,
  openMaybeDirect,
  readFully,
  writeFully,
  writevFully,
} from "./direct-io.js";

/** Zeros for the padding between frames (less than one alignment unit each). */
const padding = new Uint8Array(4096);

export class CachedPack {
  /** Where each frame lives in the .frames file. */
  private readonly frameOffsets: Float64Array;
  private dirty = false;
  /** Raw bytes stored since the last commit. */
  uncommittedBytes = 0;
  private committing: Promise<void> = Promise.resolve();

  private constructor(
    readonly index: PackIndex,
    /** One bit per frame. */
    private readonly have: Uint8Array,
    private readonly raw: FileHandle,
    private readonly bitmapPath: string,
    /** Whether .frames was opened with O_DIRECT: then every transfer goes through aligned buffers. */
    private readonly direct: boolean,
    /** The index's copy in the cache being written (open() fetched it), or done. */
    private readonly indexSaved: Promise<void>,
  ) {
    this.frameOffsets = new Float64Array(index.frameCount);
    let at = 0;
    for (let f = 0; f < index.frameCount; f++) {
      this.frameOffsets[f] = at;
      at = alignUp(at + index.frameRawLength(f));
    }
  }

  /**
   * Opens a pack from the cache, fetching and verifying its index first when the cache lacks it.
   * `direct`: bypass the page cache (for a fetch whose frames are used as they arrive and not read back
   * soon, like a block disk's); a tree is read back from the cache right after its fetch, so its packs
   * are better left in the page cache.
   */
  static async open(
    packsDir: string,
    id: string,
    transport: RepoTransport,
    direct: boolean,
  ): Promise<CachedPack> {
    const indexPath = join(packsDir, `${id}.idx`);
    let bytes: Buffer | undefined = await readFile(indexPath).catch(() => undefined);
    let indexSaved: Promise<void> = Promise.resolve();
    if (bytes === undefined || sha256Hex(bytes) !== id) {
      bytes = await transport.readFile(paths.packIndex(id), { maxBytes: readLimits.packIndex });
      if (sha256Hex(bytes) !== id) {
        throw new CollectiveError(
          "PACK_INDEX_CORRUPT",
          `pack index ${id} from ${transport.url} does not match its id`,
          {
            hint: "The repository is damaged or the server altered it; nothing was cached. Run `cui repo verify` on it.",
          },
        );
      }
      // Kept for later pulls, written (and synced: 20-30 ms for an image's) while this one goes on.
      // commit() waits for it, so no frame is ever recorded present for a pack whose index is missing.
      indexSaved = keepInCache(`pack index ${id}`, indexPath, bytes);
      indexSaved.catch(() => {}); // awaited by commit() and close()
    }
    const index = new PackIndex(id, bytes);
    const bitmapPath = join(packsDir, `${id}.present`);
    const have = new Uint8Array(Math.ceil(index.frameCount / 8));
    const saved = await readFile(bitmapPath).catch(() => undefined);
    if (saved?.length === have.length) have.set(saved);
    // A cache written before frames were aligned kept them in .raw/.have: unusable with these offsets.
    for (const legacy of [`${id}.raw`, `${id}.have`]) await unlink(join(packsDir, legacy)).catch(() => {});
    const opened = await openMaybeDirect(
      join(packsDir, `${id}.frames`),
      constants.O_RDWR | constants.O_CREAT,
      0o644,
      direct,
    );
    return new CachedPack(index, have, opened.handle, bitmapPath, opened.direct, indexSaved);
  }

  get id(): string {
    return this.index.id;
  }

  hasFrame(frame: number): boolean {
    return ((this.have[frame >> 3] ?? 0) & (1 << (frame & 7))) !== 0;
  }

  /** Whether some frame of the pack is not in the cache. */
  lacksFrames(): boolean {
    const whole = this.index.frameCount >> 3;
    for (let i = 0; i < whole; i++) if (this.have[i] !== 0xff) return true;
    for (let f = whole << 3; f < this.index.frameCount; f++) if (!this.hasFrame(f)) return true;
    return false;
  }

  /** Whether the chunk (by index position) is in the cache: whether its frame is. */
  has(entry: number): boolean {
    return this.hasFrame(this.index.frameOf(entry));
  }

  frameOffset(frame: number): number {
    return this.frameOffsets[frame]!;
  }

  rawOffset(entry: number): number {
    return this.frameOffsets[this.index.frameOf(entry)]! + this.index.offsetInFrame(entry);
  }

  rawLength(entry: number): number {
    return this.index.rawLength(entry);
  }

  /** The position in the index of the chunk whose hash is the 32 bytes at `at` of `hashes`, or -1. */
  position(hashes: Uint8Array, at = 0): number {
    return this.index.indexOf(hashes, at);
  }

  /** Where the data of `frame` ends in the .frames file (the padding up to the next frame follows). */
  frameEnd(frame: number): number {
    return this.frameOffsets[frame]! + this.index.frameRawLength(frame);
  }

  /**
   * Stores frames that the caller has verified, consecutive frames of the pack, with one aligned write
   * (the padding between frames written as whatever the staging buffer held: no frame lives there);
   * marks them present (saved at the next commit).
   */
  async storeFrames(first: number, raws: readonly Uint8Array[]): Promise<void> {
    if (raws.length === 0) return;
    const start = this.frameOffset(first);
    const end = alignUp(this.frameEnd(first + raws.length - 1));
    // Frames decoded where the file wants them (ChunkSource does) are written from where they lie.
    const laidOut = this.direct
      ? alignedView(raws, end - start, (k) => this.frameOffset(first + k) - start)
      : undefined;
    if (laidOut !== undefined) {
      await writeFully(this.raw, laidOut, start);
    } else if (this.direct) {
      await alignedPool.with(end - start, async (staging) => {
        for (let k = 0; k < raws.length; k++) staging.set(raws[k]!, this.frameOffset(first + k) - start);
        await writeFully(this.raw, staging.subarray(0, end - start), start);
      });
    } else {
      // The frames and the padding between them, as one vectored write without copying.
      const parts: Uint8Array[] = [];
      for (let k = 0; k < raws.length; k++) {
        parts.push(raws[k]!);
        const gap = (k + 1 < raws.length ? this.frameOffset(first + k + 1) : end) - this.frameEnd(first + k);
        if (gap > 0) parts.push(padding.subarray(0, gap));
      }
      await writevFully(this.raw, parts, start);
    }
    for (let frame = first; frame < first + raws.length; frame++) this.have[frame >> 3]! |= 1 << (frame & 7);
    this.dirty = true;
    this.uncommittedBytes += end - start;
  }

  /** Makes the frames stored so far durable, then records them as present (once the index is saved). */
  async commit(): Promise<void> {
    await this.indexSaved;
    // One commit at a time (batches fetched in parallel commit the same pack), each saving the bitmap as
    // it was before its fdatasync: a bit set meanwhile waits for the next commit.
    const run = this.committing
      .catch(() => {})
      .then(async () => {
        if (!this.dirty) return;
        const snapshot = this.have.slice();
        this.dirty = false;
        this.uncommittedBytes = 0;
        try {
          await this.raw.datasync();
          await writeFileAtomic(this.bitmapPath, snapshot);
        } catch (error) {
          this.dirty = true;
          throw error;
        }
      });
    this.committing = run;
    await run;
  }

  /**
   * Reads `length` bytes of the .frames file from `offset` (within present frames, padding between them
   * included: the caller checks has()), through an aligned staging buffer.
   */
  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const out = (into ?? Buffer.allocUnsafe(length)).subarray(0, length);
    if (!this.direct) {
      if ((await readFully(this.raw, out, length, offset)) < length) this.shorterThanBitmap();
      return out;
    }
    const start = alignDown(offset);
    const span = alignUp(offset + length) - start;
    await alignedPool.with(span, async (staging) => {
      const got = await readFully(this.raw, staging, span, start);
      if (got < offset + length - start) this.shorterThanBitmap();
      staging.copy(out, 0, offset - start, offset - start + length);
    });
    return out;
  }

  /**
   * Reads `length` bytes of chunk data as if the frames lay end to end: from `offsetInFrame` in `frame`
   * on, into the frames after it as needed (which must be present), skipping the padding between them.
   */
  async readAcross(frame: number, offsetInFrame: number, length: number, into: Buffer): Promise<Buffer> {
    const first = this.frameOffset(frame) + offsetInFrame;
    let last = frame;
    for (let reach = this.frameEnd(frame) - first; reach < length; reach += this.index.frameRawLength(last))
      last++;
    const start = alignDown(first);
    const span = alignUp(this.frameOffset(last) + this.index.frameRawLength(last)) - start;
    await alignedPool.with(span, async (staging) => {
      const got = await readFully(this.raw, staging, span, start);
      let done = 0;
      for (let f = frame, from = first; done < length; f++, from = this.frameOffset(f)) {
        const take = Math.min(length - done, this.frameEnd(f) - from);
        if (got < from - start + take) this.shorterThanBitmap();
        staging.copy(into, done, from - start, from - start + take);
        done += take;
      }
    });
    return into.subarray(0, length);
  }

  private shorterThanBitmap(): never {
    throw new CollectiveError(
      "CACHE_CORRUPT",
      `the cache's copy of pack ${this.id} is shorter than its bitmap says`,
      {
        hint: "Remove the pack's .present file from the cache (or the whole cache) and fetch again.",
      },
    );
  }

  async close(): Promise<void> {
    try {
      await this.commit();
    } finally {
      await this.raw.close(); // also when the commit failed: no file left open
    }
  }
}
