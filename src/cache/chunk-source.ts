/**
 * The chunks of one repository version, as seen through the host cache: finds each chunk in the packs
 * the manifest lists, fetches the frames the cache lacks (batched into few Range requests, every chunk
 * verified before a frame enters the cache), and reads chunks back from the cache in any order.
 */
import { CollectiveError, isCollectiveError } from "../errors.js";
import { type Manifest, paths } from "../repo/format.js";
import { mapConcurrent } from "../repo/map-concurrent.js";
import type { RepoReader } from "../repo/repo-reader.js";
import type { RepoTransport } from "../repo/transport.js";
import { CachedPack } from "./cached-pack.js";
import { type ChunkRef, chunkRef, entryOf, packOf } from "./chunk-ref.js";

export type { ChunkRef } from "./chunk-ref.js";

/** What is being fetched, for error messages. */
export interface FetchContext {
  readonly repository: string;
  readonly version: number;
}

export interface TransferStats {
  /** Chunks fetched from the repository (all chunks of the fetched frames), and their stored bytes. */
  fetchedChunks: number;
  fetchedBytes: number;
  /** Chunks the cache already had, and their raw bytes. */
  reusedChunks: number;
  reusedBytes: number;
}

export interface ChunkSourceOptions {
  /** Stored bytes fetched per batch (one readRanges call). */
  readonly batchBytes?: number;
  /** Batches in flight at once (one verifies while the next downloads). */
  readonly parallelBatches?: number;
  /** Called with raw bytes as frames become available (fetched or found), for progress output. */
  readonly onProgress?: (rawBytes: number) => void;
}

/** Largest single write into the cache (bounds the work an interrupted fetch loses to 1 MiB). */
const runLimit = 1024 * 1024;
/** Largest single read from the cache. */
const readLimit = 8 * 1024 * 1024;

/** A frame to fetch: the pack's number in the source and the frame's number in the pack. */
interface FrameRef {
  readonly pack: number;
  readonly frame: number;
}

export class ChunkSource {
  readonly stats: TransferStats = { fetchedChunks: 0, fetchedBytes: 0, reusedChunks: 0, reusedBytes: 0 };
  private readonly batchBytes: number;
  private readonly parallelBatches: number;

  readonly context: FetchContext;
  private readonly transport: RepoTransport;

  private constructor(
    private readonly reader: RepoReader,
    private readonly manifest: Manifest,
    private readonly packs: readonly CachedPack[],
    private readonly options: ChunkSourceOptions,
  ) {
    this.transport = reader.transport;
    this.context = { repository: reader.url, version: manifest.version };
    this.batchBytes = options.batchBytes ?? 8 * 1024 * 1024;
    this.parallelBatches = options.parallelBatches ?? 2;
  }

  /** The chunks of a verified manifest's packs, read through `reader` (which verifies each chunk). */
  static async open(
    packsDir: string,
    reader: RepoReader,
    manifest: Manifest,
    options: ChunkSourceOptions = {},
  ): Promise<ChunkSource> {
    const packs: CachedPack[] = [];
    try {
      for (const id of manifest.packs) packs.push(await CachedPack.open(packsDir, id, reader.transport));
    } catch (error) {
      await Promise.all(packs.map((pack) => pack.close()));
      throw error;
    }
    return new ChunkSource(reader, manifest, packs, options);
  }

  /** Finds a chunk, preferring a pack whose copy the cache already has. */
  locate(chunkHash: Uint8Array): ChunkRef {
    let found = -1;
    for (let p = 0; p < this.packs.length; p++) {
      const pack = this.packs[p]!;
      const entry = pack.position(chunkHash);
      if (entry < 0) continue;
      if (pack.has(entry)) return chunkRef(p, entry);
      if (found < 0) found = chunkRef(p, entry);
    }
    if (found < 0) {
      throw new CollectiveError(
        "CHUNK_MISSING",
        `chunk ${Buffer.from(chunkHash).toString("hex")} of ${this.context.repository} version ${this.context.version} is in none of the version's packs`,
        {
          hint: "The repository is damaged (a pack is missing from the manifest); run `cui repo verify` on it.",
        },
      );
    }
    return found;
  }

  /** Whether chunk b lies right after chunk a in the cache, so that one read covers both. */
  adjacent(a: ChunkRef, b: ChunkRef): boolean {
    const pack = packOf(a);
    return (
      packOf(b) === pack &&
      this.packs[pack]!.rawOffset(entryOf(b)) ===
        this.packs[pack]!.rawOffset(entryOf(a)) + this.packs[pack]!.rawLength(entryOf(a))
    );
  }

  /**
   * Reads `length` bytes of the cache from where chunk `ref` starts (the chunk and those adjacent to it,
   * which must all be in the cache) into `into`; returns the view of `into` holding them.
   */
  async readFrom(ref: ChunkRef, length: number, into: Buffer): Promise<Buffer> {
    const pack = this.packs[packOf(ref)]!;
    return pack.read(pack.rawOffset(entryOf(ref)), length, into.subarray(0, length));
  }

  /** Raw length of a chunk. */
  rawLength(ref: ChunkRef): number {
    return this.packs[packOf(ref)]!.rawLength(entryOf(ref));
  }

  /** Makes sure every chunk is in the cache, fetching the frames that hold missing ones. Duplicates are fine. */
  async ensure(refs: ArrayLike<ChunkRef>, signal?: AbortSignal): Promise<void> {
    const chunks = new BitSets(this.packs, (pack) => pack.index.count);
    const frames = new BitSets(this.packs, (pack) => pack.index.frameCount);
    const missing: FrameRef[] = [];
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      const p = packOf(ref);
      const entry = entryOf(ref);
      if (!chunks.add(p, entry)) continue;
      const pack = this.packs[p]!;
      const frame = pack.index.frameOf(entry);
      if (!pack.hasFrame(frame)) {
        if (frames.add(p, frame)) missing.push({ pack: p, frame });
        continue;
      }
      const raw = pack.rawLength(entry);
      this.stats.reusedChunks++;
      this.stats.reusedBytes += raw;
      this.options.onProgress?.(raw);
    }
    await mapConcurrent(
      this.batch(missing),
      this.parallelBatches,
      (batch, batchSignal) => this.fetchBatch(batch, batchSignal),
      signal,
    );
  }

  /** Raw bytes of the distinct chunks among refs: what ensure() will report as progress. */
  uniqueRawBytes(refs: ArrayLike<ChunkRef>): number {
    const seen = new BitSets(this.packs, (pack) => pack.index.count);
    let total = 0;
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      if (seen.add(packOf(ref), entryOf(ref))) total += this.rawLength(ref);
    }
    return total;
  }

  /** Reads chunks (which must be in the cache) in the order given. */
  async read(refs: ArrayLike<ChunkRef>): Promise<Buffer[]> {
    const out = new Array<Buffer>(refs.length);
    const byPack = new Map<number, number[]>();
    for (let i = 0; i < refs.length; i++) {
      const p = packOf(refs[i]!);
      const list = byPack.get(p);
      if (list === undefined) byPack.set(p, [i]);
      else list.push(i);
    }
    for (const [p, members] of byPack) {
      const pack = this.packs[p]!;
      const offsets = members.map((i) => pack.rawOffset(entryOf(refs[i]!)));
      const order = Uint32Array.from(members.keys()).sort((a, b) => offsets[a]! - offsets[b]!);
      let i = 0;
      while (i < order.length) {
        // One read for a run of chunks that lie back to back (or overlap) in the cache file.
        const start = offsets[order[i]!]!;
        let end = start + pack.rawLength(entryOf(refs[members[order[i]!]!]!));
        let j = i + 1;
        while (j < order.length && end - start < readLimit) {
          const offset = offsets[order[j]!]!;
          if (offset > end) break;
          end = Math.max(end, offset + pack.rawLength(entryOf(refs[members[order[j]!]!]!)));
          j++;
        }
        const bytes = await pack.read(start, end - start);
        for (let k = i; k < j; k++) {
          const member = members[order[k]!]!;
          const offset = offsets[order[k]!]! - start;
          out[member] = bytes.subarray(offset, offset + pack.rawLength(entryOf(refs[member]!)));
        }
        i = j;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.packs.map((pack) => pack.close()));
  }

  /** Frames in pack order, cut into batches of about batchBytes stored bytes, one pack per batch. */
  private batch(frames: FrameRef[]): FrameRef[][] {
    frames.sort((a, b) => a.pack - b.pack || a.frame - b.frame);
    const batches: FrameRef[][] = [];
    let current: FrameRef[] = [];
    let bytes = 0;
    for (const frame of frames) {
      const stored = this.packs[frame.pack]!.index.frameStoredLength(frame.frame);
      if (current.length > 0 && (bytes + stored > this.batchBytes || current[0]!.pack !== frame.pack)) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(frame);
      bytes += stored;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  private async fetchBatch(batch: readonly FrameRef[], signal: AbortSignal): Promise<void> {
    const pack = this.packs[batch[0]!.pack]!;
    const frames = batch.map(({ frame }) => frame);
    const stored = await this.transport.readRanges(
      paths.pack(pack.id),
      frames.map((frame) => {
        const { offset, storedLength } = pack.index.frameAt(frame);
        return { offset, length: storedLength };
      }),
      { signal },
    );
    try {
      // Runs of consecutive frames lie back to back in the cache file: one write each.
      let first = -1;
      let raws: Buffer[] = [];
      let runBytes = 0;
      const flush = async (): Promise<void> => {
        signal.throwIfAborted();
        await pack.storeFrames(first, raws);
        for (const raw of raws) this.options.onProgress?.(raw.length);
        raws = [];
        runBytes = 0;
      };
      for (let i = 0; i < frames.length; i++) {
        const frame = frames[i]!;
        const raw = this.verify(pack, frame, stored[i]!);
        this.stats.fetchedChunks += pack.index.entriesOfFrame(frame).length;
        this.stats.fetchedBytes += stored[i]!.length;
        if (raws.length > 0 && (frame !== first + raws.length || runBytes >= runLimit)) await flush();
        if (raws.length === 0) first = frame;
        raws.push(raw);
        runBytes += raw.length;
      }
      await flush();
    } finally {
      // Keep what was verified and written, even when the batch stops half-way: a retry will not fetch it again.
      await pack.commit();
    }
  }

  private verify(pack: CachedPack, frame: number, stored: Uint8Array): Buffer {
    try {
      return this.reader.openFrame(this.manifest, pack.index, frame, stored);
    } catch (error) {
      if (!isCollectiveError(error)) throw error;
      throw new CollectiveError(
        error.code,
        `${error.message} at offset ${pack.index.frameAt(frame).offset}`,
        {
          hint: "The repository is damaged or the server altered the data; nothing of it was cached. Run `cui repo verify` on the repository.",
        },
      );
    }
  }
}

/** One bit per item and pack (chunks or frames): cheap for the hundreds of thousands of a disk. */
class BitSets {
  private readonly bits: Array<Uint8Array | undefined>;

  constructor(
    private readonly packs: readonly CachedPack[],
    private readonly size: (pack: CachedPack) => number,
  ) {
    this.bits = new Array(packs.length);
  }

  /** Adds the item; false when it was there already. */
  add(pack: number, item: number): boolean {
    let bits = this.bits[pack];
    if (bits === undefined) {
      bits = new Uint8Array(Math.ceil(this.size(this.packs[pack]!) / 8));
      this.bits[pack] = bits;
    }
    const mask = 1 << (item & 7);
    if ((bits[item >> 3]! & mask) !== 0) return false;
    bits[item >> 3]! |= mask;
    return true;
  }
}
