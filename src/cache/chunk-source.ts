/**
 * The chunks of one repository version, as seen through the host cache: finds each chunk in the packs
 * the manifest lists, fetches the frames the cache lacks (batched into few Range requests, every chunk
 * verified before a frame enters the cache), and reads chunks back from the cache in any order.
 */
import { CollectiveError } from "../errors.js";
import { type Manifest, paths } from "../repo/format.js";
import { mapConcurrent } from "../repo/map-concurrent.js";
import { MAX_FRAME_RAW, type PackIndex } from "../repo/pack-index.js";
import type { RepoReader } from "../repo/repo-reader.js";
import type { RepoTransport } from "../repo/transport.js";
import { CachedPack } from "./cached-pack.js";
import { type ChunkRef, chunkRef, entryOf, packOf } from "./chunk-ref.js";
import { alignedPool, alignUp } from "./direct-io.js";
import {
  InlineFrameVerifier,
  ThreadFrameVerifier,
  verifierThreadStarted,
  verifyThreadEnabled,
} from "./frame-verifier.js";

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
  /** Stored bytes fetched per batch (one readRanges call); by default chosen per fetch (batching()). */
  readonly batchBytes?: number;
  /** Batches in flight at once (some download while others are checked and written); by default batching()'s. */
  readonly parallelBatches?: number;
  /** Called with raw bytes as frames become available (fetched or found), for progress output. */
  readonly onProgress?: (rawBytes: number) => void;
  /** Called as each ensure() starts: the raw bytes of the distinct chunks it was asked for (progress's end). */
  readonly onTotal?: (rawBytes: number) => void;
  /**
   * The fetch uses its frames as they arrive (a sink writes block disks from them) rather than reading
   * them back from the cache at once (trees). Such a fetch keeps the cache's frames out of the page
   * cache (O_DIRECT: direct-io.ts), has four batches in flight and checks its frames on a second thread
   * (batching(), useVerifierThread()): measured faster for images, not for trees, whose writer reads
   * the cache in file order and keeps the second core busy creating files (docs/benchmarks.md).
   */
  readonly framesOnArrival?: boolean;
}

const mebibyte = 1024 * 1024;
/** Largest single write into the cache (larger staging buffers measured slower: more fresh memory). */
const runLimit = 1024 * 1024;
/**
 * Raw bytes a pack takes in between commits (an fdatasync and a bitmap saved atomically: 10-20 ms here,
 * a third of a 1 GiB fetch when done per 8 MiB batch). What a killed fetch can lose; a failed one
 * commits what it had.
 */
const commitBytes = 64 * 1024 * 1024;
/** A buffer runs of frames are decoded into (storeBatch): one run, under runLimit plus one frame. */
const decodeBytes = runLimit + MAX_FRAME_RAW;
/** Largest single read from the cache. */
const readLimit = 8 * 1024 * 1024;
/** Bytes between two wanted chunks that one read rather reads over than splits at. */
const readGap = 64 * 1024;
/** Stored bytes a fetch needs before verification moves to a thread of its own (frame-verifier.ts). */
const threadMinBytes = 2 * mebibyte;
/** Stored bytes from which a fetch takes bigger batches (batching()). */
const bigFetchBytes = 256 * mebibyte;

/**
 * How a fetch of `missingBytes` stored bytes is cut. One whose frames are used as they arrive (images)
 * has four batches in flight, so that while some download, others are checked and written (with two, the
 * main thread sat idle 44% of a 1 GiB fetch); each batch's download lands in its own buffer, and fresh
 * memory is slow to touch here (about 3 ms a MiB: direct-io.ts), so a fetch under bigFetchBytes takes
 * batches half the size. A tree's fetch keeps two of 8 MiB: its writer reads the cache in file order,
 * and more batches only brought frames in a less useful order. Measured in docs/benchmarks.md (ninth pass).
 */
function batching(
  options: ChunkSourceOptions,
  missingBytes: number,
): { batchBytes: number; parallelBatches: number } {
  if (!options.framesOnArrival)
    return { batchBytes: options.batchBytes ?? 8 * mebibyte, parallelBatches: options.parallelBatches ?? 2 };
  return {
    batchBytes: options.batchBytes ?? (missingBytes >= bigFetchBytes ? 8 * mebibyte : 4 * mebibyte),
    parallelBatches: options.parallelBatches ?? 4,
  };
}

/**
 * Receives verified frames as they arrive, before ensure() returns: consecutive frames from `first` on
 * of the pack numbered `pack` (its position in the version's pack list). A cold fetch writes its
 * destination from them instead of reading everything back from the cache afterwards.
 */
export type FrameSink = (pack: number, first: number, raws: readonly Buffer[]) => Promise<void>;

/** A frame to fetch: the pack's number in the source and the frame's number in the pack. */
interface FrameRef {
  readonly pack: number;
  readonly frame: number;
}

export class ChunkSource {
  readonly stats: TransferStats = { fetchedChunks: 0, fetchedBytes: 0, reusedChunks: 0, reusedBytes: 0 };

  readonly context: FetchContext;
  private readonly transport: RepoTransport;
  /**
   * While ensure() runs: readers waiting for frames it has yet to store (read() waits, so a tree can be
   * written while its frames download), woken after every run of frames stored and when it ends.
   */
  private arrivals: { waiters: Array<() => void>; ended: boolean; failure?: unknown } | undefined;
  private readonly inlineVerifier: InlineFrameVerifier;
  /** Set by the first fetch big enough, or once the process's thread is up (useVerifierThread). */
  private threadVerifier: ThreadFrameVerifier | undefined;

  private constructor(
    reader: RepoReader,
    manifest: Manifest,
    private readonly packs: readonly CachedPack[],
    private readonly options: ChunkSourceOptions,
  ) {
    this.transport = reader.transport;
    this.context = { repository: reader.url, version: manifest.version };
    this.inlineVerifier = new InlineFrameVerifier(reader, manifest);
    // A pull of images has started the process's thread (it is coming up now): the thread gets the
    // indexes of the packs it will check frames of while the fetch reads its block maps.
    if (options.framesOnArrival && verifierThreadStarted()) {
      this.useVerifierThread(0);
      this.threadVerifier?.prepare(packs.filter((pack) => pack.lacksFrames()).map((pack) => pack.index));
    }
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
      for (const id of manifest.packs)
        packs.push(await CachedPack.open(packsDir, id, reader.transport, options.framesOnArrival ?? false));
    } catch (error) {
      await Promise.all(packs.map((pack) => pack.close()));
      throw error;
    }
    return new ChunkSource(reader, manifest, packs, options);
  }

  /** Finds the chunk whose hash is the 32 bytes at `at`, preferring a pack whose copy the cache already has. */
  locate(hashes: Uint8Array, at = 0): ChunkRef {
    let found = -1;
    for (let p = 0; p < this.packs.length; p++) {
      const pack = this.packs[p]!;
      const entry = pack.position(hashes, at);
      if (entry < 0) continue;
      if (pack.has(entry)) return chunkRef(p, entry);
      if (found < 0) found = chunkRef(p, entry);
    }
    if (found < 0) {
      throw new CollectiveError(
        "CHUNK_MISSING",
        `chunk ${Buffer.from(hashes.subarray(at, at + 32)).toString("hex")} of ${this.context.repository} version ${this.context.version} is in none of the version's packs`,
        {
          hint: "The repository is damaged (a pack is missing from the manifest); run `cui repo verify` on it.",
        },
      );
    }
    return found;
  }

  /** Whether chunk b continues chunk a: next in a's frame, or first in the frame after (one read covers both). */
  adjacent(a: ChunkRef, b: ChunkRef): boolean {
    const p = packOf(a);
    if (packOf(b) !== p) return false;
    const { index } = this.packs[p]!;
    const end = index.offsetInFrame(entryOf(a)) + index.rawLength(entryOf(a));
    const frameA = index.frameOf(entryOf(a));
    const frameB = index.frameOf(entryOf(b));
    const offsetB = index.offsetInFrame(entryOf(b));
    if (frameB === frameA) return offsetB === end;
    return frameB === frameA + 1 && offsetB === 0 && end === index.frameRawLength(frameA);
  }

  /**
   * Reads `length` bytes of chunks from where chunk `ref` starts (the chunk and those adjacent to it,
   * which must all be in the cache) into `into`; returns the view of `into` holding them.
   */
  async readFrom(ref: ChunkRef, length: number, into: Buffer): Promise<Buffer> {
    const pack = this.packs[packOf(ref)]!;
    const entry = entryOf(ref);
    return pack.readAcross(pack.index.frameOf(entry), pack.index.offsetInFrame(entry), length, into);
  }

  /** The index of the pack numbered `pack`. */
  packIndex(pack: number): PackIndex {
    return this.packs[pack]!.index;
  }

  get packCount(): number {
    return this.packs.length;
  }

  /** Raw length of a chunk. */
  rawLength(ref: ChunkRef): number {
    return this.packs[packOf(ref)]!.rawLength(entryOf(ref));
  }

  /**
   * Makes sure every chunk is in the cache, fetching the frames that hold missing ones (each handed to
   * `sink` too, once verified and stored). Duplicates are fine. With `commit` false, a successful fetch
   * leaves making its frames durable to the next ensure() (a pull's metadata streams, fetched right
   * before its disks: one fdatasync saved; a crash in between only costs fetching them again).
   */
  async ensure(
    refs: ArrayLike<ChunkRef>,
    signal?: AbortSignal,
    sink?: FrameSink,
    commit = true,
  ): Promise<void> {
    const chunks = new BitSets(this.packs, (pack) => pack.index.count);
    const frames = new BitSets(this.packs, (pack) => pack.index.frameCount);
    const missing: FrameRef[] = [];
    let totalBytes = 0;
    let reusedBytes = 0;
    let missingBytes = 0; // stored bytes of the missing frames
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      const p = packOf(ref);
      const entry = entryOf(ref);
      if (!chunks.add(p, entry)) continue;
      const pack = this.packs[p]!;
      const raw = pack.rawLength(entry);
      totalBytes += raw;
      const frame = pack.index.frameOf(entry);
      if (!pack.hasFrame(frame)) {
        if (frames.add(p, frame)) {
          missing.push({ pack: p, frame });
          missingBytes += pack.index.frameStoredLength(frame);
        }
        continue;
      }
      this.stats.reusedChunks++;
      this.stats.reusedBytes += raw;
      reusedBytes += raw;
    }
    this.options.onTotal?.(totalBytes);
    if (reusedBytes > 0) this.options.onProgress?.(reusedBytes); // what the cache has is there at once
    this.useVerifierThread(missingBytes);
    const { batchBytes, parallelBatches } = batching(this.options, missingBytes);
    const arrivals: NonNullable<typeof this.arrivals> = { waiters: [], ended: false };
    this.arrivals = arrivals;
    try {
      const fetching = mapConcurrent(
        this.batch(missing, batchBytes),
        parallelBatches,
        (batch, batchSignal) => this.fetchBatch(batch, batchSignal, sink),
        signal,
      );
      // Built while the first batches download (their requests are on their way by then), not when their
      // frames arrive: every arriving run looks its chunks up by frame.
      if (missing.length > 0) setImmediate(() => this.packs[missing[0]!.pack]!.index.frameTable());
      await fetching;
    } catch (error) {
      arrivals.failure = error;
      throw error;
    } finally {
      try {
        // Keep what was verified and written, even when the fetch stopped half-way: a retry will not fetch it again.
        if (commit || arrivals.failure !== undefined) for (const pack of this.packs) await pack.commit();
      } finally {
        arrivals.ended = true;
        if (this.arrivals === arrivals) this.arrivals = undefined;
        this.wake(arrivals);
      }
    }
  }

  private wake(arrivals: NonNullable<typeof this.arrivals> | undefined): void {
    for (const waiter of arrivals?.waiters.splice(0) ?? []) waiter();
  }

  /**
   * Resolves once every chunk is in the cache: at once when it is, else as ensure() stores the frames
   * (rejecting with ensure's error when it fails). A chunk no running ensure() will bring is a bug.
   */
  private async whenCached(refs: ArrayLike<ChunkRef>): Promise<void> {
    const arrivals = this.arrivals;
    for (let i = 0; i < refs.length; ) {
      const ref = refs[i]!;
      if (this.packs[packOf(ref)]!.has(entryOf(ref))) {
        i++;
        continue;
      }
      if (arrivals?.failure !== undefined) throw arrivals.failure;
      if (arrivals === undefined || arrivals.ended) {
        throw new CollectiveError(
          "INTERNAL",
          `chunk ${entryOf(ref)} of pack ${packOf(ref)} was read before it was fetched`,
        );
      }
      await new Promise<void>((resolve) => arrivals.waiters.push(resolve));
    }
  }

  /**
   * Reads chunks in the order given. They must be in the cache, or be on their way there by a running
   * ensure(): then the read waits for them. With an arena, the chunks are views of its buffer (grown
   * when too small), valid until the arena is used again: a caller reading window after window reuses
   * memory it has touched before instead of fresh memory per read (slow to touch here: direct-io.ts).
   */
  async read(refs: ArrayLike<ChunkRef>, arena?: ReadArena): Promise<Buffer[]> {
    await this.whenCached(refs);
    const out = new Array<Buffer>(refs.length);
    const byPack = new Map<number, number[]>();
    for (let i = 0; i < refs.length; i++) {
      const p = packOf(refs[i]!);
      const list = byPack.get(p);
      if (list === undefined) byPack.set(p, [i]);
      else list.push(i);
    }
    // The reads: runs of chunks that lie close together in the cache file (back to back, with only the
    // padding between frames or a small gap between them, or overlapping), one read each.
    const runs: Array<{
      pack: CachedPack;
      start: number;
      end: number;
      members: number[];
      offsets: number[];
    }> = [];
    let total = 0;
    for (const [p, members] of byPack) {
      const pack = this.packs[p]!;
      const offsets = members.map((i) => pack.rawOffset(entryOf(refs[i]!)));
      const order = Uint32Array.from(members.keys()).sort((a, b) => offsets[a]! - offsets[b]!);
      let i = 0;
      while (i < order.length) {
        const start = offsets[order[i]!]!;
        let end = start + pack.rawLength(entryOf(refs[members[order[i]!]!]!));
        let j = i + 1;
        while (j < order.length && end - start < readLimit) {
          const offset = offsets[order[j]!]!;
          if (offset > end + readGap) break;
          end = Math.max(end, offset + pack.rawLength(entryOf(refs[members[order[j]!]!]!)));
          j++;
        }
        const run = { pack, start, end, members: [] as number[], offsets: [] as number[] };
        for (let k = i; k < j; k++) {
          run.members.push(members[order[k]!]!);
          run.offsets.push(offsets[order[k]!]! - start);
        }
        runs.push(run);
        total += end - start;
        i = j;
      }
    }
    if (arena !== undefined && arena.buffer.length < total) arena.buffer = Buffer.allocUnsafe(total);
    let at = 0;
    for (const { pack, start, end, members, offsets } of runs) {
      const bytes = await pack.read(start, end - start, arena?.buffer.subarray(at, at + end - start));
      at += end - start;
      members.forEach((member, k) => {
        out[member] = bytes.subarray(offsets[k]!, offsets[k]! + pack.rawLength(entryOf(refs[member]!)));
      });
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.packs.map((pack) => pack.close()));
  }

  /** Frames in pack order, cut into batches of about batchBytes stored bytes, one pack per batch. */
  private batch(frames: FrameRef[], batchBytes: number): FrameRef[][] {
    frames.sort((a, b) => a.pack - b.pack || a.frame - b.frame);
    const batches: FrameRef[][] = [];
    let current: FrameRef[] = [];
    let bytes = 0;
    for (const frame of frames) {
      const stored = this.packs[frame.pack]!.index.frameStoredLength(frame.frame);
      if (current.length > 0 && (bytes + stored > batchBytes || current[0]!.pack !== frame.pack)) {
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

  private async fetchBatch(
    batch: readonly FrameRef[],
    signal: AbortSignal,
    sink: FrameSink | undefined,
  ): Promise<void> {
    const pack = this.packs[batch[0]!.pack]!;
    const frames = batch.map(({ frame }) => frame);
    // Downloads land in reused buffers (fresh memory is slow to touch: direct-io.ts), given back below.
    const borrowed: Buffer[] = [];
    const allocate = (length: number): Buffer => {
      const buffer = alignedPool.acquire(length);
      borrowed.push(buffer);
      return buffer;
    };
    try {
      const stored = await this.transport.readRanges(
        paths.pack(pack.id),
        frames.map((frame) => {
          const { offset, storedLength } = pack.index.frameAt(frame);
          return { offset, length: storedLength };
        }),
        { signal, allocate },
      );
      await this.storeBatch(batch[0]!.pack, frames, stored, signal, sink);
    } finally {
      for (const buffer of borrowed) alignedPool.release(buffer);
    }
  }

  /** Verifies fetched frames and stores them in the cache, runs of consecutive frames at a time. */
  private async storeBatch(
    packNumber: number,
    frames: readonly number[],
    stored: readonly Uint8Array[],
    signal: AbortSignal,
    sink: FrameSink | undefined,
  ): Promise<void> {
    const pack = this.packs[packNumber]!;
    // A run's frames are decoded into a reused aligned buffer (fresh memory is slow to touch:
    // direct-io.ts), laid out as in the cache file (each frame at an aligned offset), so the cache and
    // often the destination write them from there with no copy. Two such buffers take turns: a run is
    // decoded into one while the run before is written from the other. Each holds one run, under
    // runLimit plus one frame.
    const decoded = [alignedPool.acquire(decodeBytes), alignedPool.acquire(decodeBytes)];
    let writing: Promise<void> = Promise.resolve();
    try {
      for (let i = 0, turn = 0; i < frames.length; turn ^= 1) {
        // A run: consecutive frames (one after another in the cache file: one write), under runLimit.
        const start = i;
        const offsets: number[] = [];
        let runBytes = 0;
        do {
          offsets.push(runBytes);
          runBytes = alignUp(runBytes + pack.index.frameRawLength(frames[i]!));
          i++;
        } while (i < frames.length && frames[i] === frames[i - 1]! + 1 && runBytes < runLimit);
        const run = frames.slice(start, i);
        // This buffer's previous run was written before the last run's writes began (awaited below).
        const raws = await this.verifyRun(pack, run, stored.slice(start, i), decoded[turn]!, offsets);
        for (let k = 0; k < run.length; k++) {
          this.stats.fetchedChunks += pack.index.entriesOfFrame(run[k]!).length;
          this.stats.fetchedBytes += stored[start + k]!.length;
        }
        await writing;
        signal.throwIfAborted();
        writing = this.storeRun(pack, packNumber, run[0]!, raws, sink);
        writing.catch(() => {}); // awaited at the next run or below
      }
      await writing;
    } finally {
      await writing.catch(() => {}); // the buffers may be given back only when no write uses them
      for (const buffer of decoded) alignedPool.release(buffer);
      if (pack.uncommittedBytes >= commitBytes) await pack.commit();
    }
  }

  /**
   * Writes a verified run of frames into the cache and (a cold fetch) into the destination at once:
   * both copy what they need before their first write, and the writes run on the thread pool side by
   * side. Both settle before the run's buffer can be used again.
   */
  private async storeRun(
    pack: CachedPack,
    packNumber: number,
    first: number,
    raws: Buffer[],
    sink: FrameSink | undefined,
  ): Promise<void> {
    const settled = await Promise.allSettled([
      pack.storeFrames(first, raws),
      sink?.(packNumber, first, raws),
    ]);
    for (const result of settled) if (result.status === "rejected") throw result.reason;
    for (const raw of raws) this.options.onProgress?.(raw.length);
    this.wake(this.arrivals);
  }

  /** Decodes and checks a run of frames into `decoded` (frame k at offsets[k]); returns their raw bytes. */
  private verifyRun(
    pack: CachedPack,
    run: readonly number[],
    stored: readonly Uint8Array[],
    decoded: Buffer,
    offsets: readonly number[],
  ): Promise<Buffer[]> {
    const places = run.map((frame, k) =>
      decoded.subarray(offsets[k]!, offsets[k]! + pack.index.frameRawLength(frame)),
    );
    const verifier = this.threadVerifier ?? this.inlineVerifier;
    return verifier.verify({ pack: pack.index, frames: run, stored, places });
  }

  /**
   * A fetch whose frames are used as they arrive has them checked on the process's verifier thread, when
   * it is already up (a pull starts it early) or once a fetch is big enough to repay starting it (about
   * 60 ms of a second core).
   */
  private useVerifierThread(missingBytes: number): void {
    if (this.threadVerifier !== undefined || !this.options.framesOnArrival || !verifyThreadEnabled()) return;
    if (missingBytes < threadMinBytes && !verifierThreadStarted()) return;
    try {
      this.threadVerifier = new ThreadFrameVerifier(this.inlineVerifier);
    } catch {
      // No thread to be had (a limit on threads or memory): every run is checked inline, as before.
    }
  }
}

/** Memory that ChunkSource.read() reads into, reused from one read to the next (see read()). */
export interface ReadArena {
  buffer: Buffer;
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
