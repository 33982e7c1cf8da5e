/**
 * The chunks of one repository version, as seen through the host cache: finds each chunk in the packs
 * the manifest lists, fetches the ones the cache lacks (batched into few Range requests, verified one by
 * one before they enter the cache), and reads them back from the cache in any order.
 */
import { CollectiveError, isCollectiveError } from "../errors.js";
import { type Manifest, paths } from "../repo/format.js";
import { mapConcurrent } from "../repo/map-concurrent.js";
import type { PackEntry } from "../repo/pack-index.js";
import type { RepoReader } from "../repo/repo-reader.js";
import type { RepoTransport } from "../repo/transport.js";
import { CachedPack } from "./cached-pack.js";

/** Where one chunk lives: a pack of the cache and the chunk's position in that pack's index. */
export interface ChunkRef {
  readonly pack: CachedPack;
  readonly entry: number;
}

/** What is being fetched, for error messages. */
export interface FetchContext {
  readonly repository: string;
  readonly version: number;
}

export interface TransferStats {
  /** Chunks fetched from the repository, and their stored (compressed) bytes. */
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
  /** Called with raw bytes as chunks become available (fetched or found), for progress output. */
  readonly onProgress?: (rawBytes: number) => void;
}

/** Largest single write into the cache (bounds the work an interrupted fetch loses to 1 MiB). */
const runLimit = 1024 * 1024;

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
    this.batchBytes = options.batchBytes ?? 16 * 1024 * 1024;
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
    let found: ChunkRef | undefined;
    for (const pack of this.packs) {
      const entry = pack.position(chunkHash);
      if (entry < 0) continue;
      if (pack.has(entry)) return { pack, entry };
      found ??= { pack, entry };
    }
    if (found === undefined) {
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

  /** Makes sure every chunk is in the cache, fetching the missing ones. Duplicates are fine. */
  async ensure(refs: readonly ChunkRef[], signal?: AbortSignal): Promise<void> {
    const missing: ChunkRef[] = [];
    const seen = new ChunkSet();
    for (const ref of refs) {
      if (!seen.add(ref)) continue;
      if (!ref.pack.has(ref.entry)) {
        missing.push(ref);
        continue;
      }
      const raw = ref.pack.rawLength(ref.entry);
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

  /** Raw bytes of the distinct chunks among refs: what ensure() will make available. */
  uniqueRawBytes(refs: readonly ChunkRef[]): number {
    const seen = new ChunkSet();
    let total = 0;
    for (const ref of refs) if (seen.add(ref)) total += ref.pack.rawLength(ref.entry);
    return total;
  }

  /** Reads chunks (which must be in the cache) in the order given. */
  async read(refs: readonly ChunkRef[]): Promise<Buffer[]> {
    const out = new Array<Buffer>(refs.length);
    const byPack = new Map<CachedPack, number[]>();
    refs.forEach((ref, i) => {
      const list = byPack.get(ref.pack);
      if (list === undefined) byPack.set(ref.pack, [i]);
      else list.push(i);
    });
    for (const [pack, members] of byPack) {
      members.sort((a, b) => pack.rawOffset(refs[a]!.entry) - pack.rawOffset(refs[b]!.entry));
      let i = 0;
      while (i < members.length) {
        // One read for a run of chunks that lie back to back in the cache file.
        const first = refs[members[i]!]!;
        const start = pack.rawOffset(first.entry);
        let end = start + pack.rawLength(first.entry);
        let j = i + 1;
        while (j < members.length && end - start < 8 * 1024 * 1024) {
          const next = refs[members[j]!]!;
          const offset = pack.rawOffset(next.entry);
          if (offset > end || offset < start) break;
          end = Math.max(end, offset + pack.rawLength(next.entry));
          j++;
        }
        const bytes = await pack.read(start, end - start);
        for (let k = i; k < j; k++) {
          const ref = refs[members[k]!]!;
          const offset = pack.rawOffset(ref.entry) - start;
          out[members[k]!] = bytes.subarray(offset, offset + pack.rawLength(ref.entry));
        }
        i = j;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.packs.map((pack) => pack.close()));
  }

  private batch(refs: ChunkRef[]): ChunkRef[][] {
    refs.sort((a, b) =>
      a.pack === b.pack
        ? a.pack.rawOffset(a.entry) - b.pack.rawOffset(b.entry)
        : a.pack.id < b.pack.id
          ? -1
          : 1,
    );
    const batches: ChunkRef[][] = [];
    let current: ChunkRef[] = [];
    let bytes = 0;
    for (const ref of refs) {
      const stored = ref.pack.storedLength(ref.entry);
      if (current.length > 0 && (bytes + stored > this.batchBytes || current[0]!.pack !== ref.pack)) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(ref);
      bytes += stored;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  private async fetchBatch(batch: readonly ChunkRef[], signal: AbortSignal): Promise<void> {
    const pack = batch[0]!.pack;
    const entries = batch.map((ref) => pack.index.entryAt(ref.entry));
    const stored = await this.transport.readRanges(
      paths.pack(pack.id),
      entries.map((entry) => ({ offset: entry.offset, length: entry.storedLength })),
      { signal },
    );
    try {
      // Runs of chunks that lie back to back in the cache file go out in one write each.
      let run: number[] = [];
      let raws: Uint8Array[] = [];
      let runBytes = 0;
      const flush = async (): Promise<void> => {
        signal.throwIfAborted();
        await pack.storeRun(run, raws);
        for (const raw of raws) this.options.onProgress?.(raw.length);
        run = [];
        raws = [];
        runBytes = 0;
      };
      for (let i = 0; i < batch.length; i++) {
        const entry = entries[i]!;
        const position = batch[i]!.entry;
        const raw = this.verify(pack, entry, stored[i]!);
        this.stats.fetchedChunks++;
        this.stats.fetchedBytes += entry.storedLength;
        const contiguous =
          run.length > 0 && pack.rawOffset(position) === pack.rawOffset(run.at(-1)!) + raws.at(-1)!.length;
        if (run.length > 0 && (!contiguous || runBytes >= runLimit)) await flush();
        run.push(position);
        raws.push(raw);
        runBytes += raw.length;
      }
      await flush();
    } finally {
      // Keep what was verified and written, even when the batch stops half-way: a retry will not fetch it again.
      await pack.commit();
    }
  }

  private verify(pack: CachedPack, entry: PackEntry, stored: Uint8Array): Uint8Array {
    try {
      return this.reader.verifyChunk(this.manifest, entry.hash, { pack: pack.index, entry }, stored);
    } catch (error) {
      if (!isCollectiveError(error)) throw error;
      throw new CollectiveError(error.code, `${error.message} at offset ${entry.offset}`, {
        hint: "The repository is damaged or the server altered the data; nothing of it was cached. Run `cui repo verify` on the repository.",
      });
    }
  }
}

/** A set of chunks as one bit per index entry and pack: cheap for the hundreds of thousands of a disk. */
class ChunkSet {
  private readonly bits = new Map<CachedPack, Uint8Array>();

  /** Adds the chunk; false when it was there already. */
  add(ref: ChunkRef): boolean {
    let bits = this.bits.get(ref.pack);
    if (bits === undefined) {
      bits = new Uint8Array(Math.ceil(ref.pack.index.count / 8));
      this.bits.set(ref.pack, bits);
    }
    const mask = 1 << (ref.entry & 7);
    if ((bits[ref.entry >> 3]! & mask) !== 0) return false;
    bits[ref.entry >> 3]! |= mask;
    return true;
  }
}
