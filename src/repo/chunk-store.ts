/**
 * The publishing side of a repository's chunk storage: knows every chunk already stored (from the pack
 * indexes), stores only new ones, and records which packs a version uses. Also stores metadata streams
 * (tree listings, block maps) as chunks plus a stream index object.
 */
import { hash, randomBytes } from "node:crypto";
import { access, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { Compression } from "./compression.js";
import { DigestTable, parseDigestHex } from "./digest-table.js";
import { chunkBuffer, FastCdc, metadataChunking } from "./fastcdc.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { encodeObject, ObjectType } from "./meta-object.js";
import { PackIndex } from "./pack-index.js";
import { type PackRef, PackWriter } from "./pack-writer.js";
import { sha256Into } from "./sha256.js";

/** Packs are cut at this size so that no single file grows without bound. */
const PACK_LIMIT = 1 << 30;

export interface StoreStats {
  chunks: number;
  newChunks: number;
  newBytes: number;
}

export class ChunkStore {
  /** Every chunk known to be stored -> its pack's number in `packs` (once loaded: load()). */
  private readonly known = new DigestTable();
  private loading: Promise<void> | undefined;
  private loaded = false;
  private readonly packs: PackRef[] = [];
  private readonly used = new Set<PackRef>();
  /** Packs used since track() was called (by one disk), when tracking. */
  private tracked: Set<PackRef> | undefined;
  private writer: PackWriter | undefined;
  /** The writer's number in `packs`. */
  private writerNumber = -1;
  private readonly metaCdc = new FastCdc(metadataChunking);
  private packSerial = 0;
  /** reuse() decodes each hex hash into this: a Buffer per hash was most of an unchanged publish's garbage. */
  private readonly scratch = new Uint8Array(32);
  /** put() hashes each chunk into this and returns it as hex. */
  private readonly digest = Buffer.allocUnsafe(32);
  readonly stats: StoreStats = { chunks: 0, newChunks: 0, newBytes: 0 };

  private constructor(
    private readonly repoDir: string,
    private readonly tempDir: string,
  ) {}

  /** Where stream index objects live. */
  get objectsDir(): string {
    return join(this.repoDir, "objects");
  }

  /**
   * A store over the repository's packs. Their indexes are loaded at the first need (load()): a publish
   * that reuses whole disks (quick-check.ts, image-quick-check.ts) never needs them, and loading and
   * checking them took 25-30 ms of an unchanged tree's publish.
   */
  static async open(repoDir: string, tempDir: string): Promise<ChunkStore> {
    return new ChunkStore(repoDir, tempDir);
  }

  private get packsDir(): string {
    return join(this.repoDir, "packs");
  }

  /** Loads the index of every complete pack in the repository (once): what put() dedupes against. */
  async load(): Promise<void> {
    this.loading ??= this.loadIndexes();
    await this.loading;
  }

  private async loadIndexes(): Promise<void> {
    const names = await readdir(this.packsDir).catch(() => [] as string[]);
    const indexes: PackIndex[] = [];
    for (const name of names) {
      if (!name.endsWith(".idx")) continue;
      const id = name.slice(0, -4);
      const bytes = await this.validIndex(id);
      if (bytes !== undefined) indexes.push(new PackIndex(id, bytes)); // never dedupe against a damaged index
    }
    this.known.reserve(indexes.reduce((sum, index) => sum + index.count, 0));
    for (const index of indexes) {
      const number = this.packNumber(index.id);
      const bytes = index.indexBytes;
      for (let i = 0; i < index.count; i++) this.known.add(bytes, number, index.hashOffset(i));
    }
    this.loaded = true;
  }

  /** The bytes of a complete pack's index, or undefined when it is missing or damaged. */
  private async validIndex(id: string): Promise<Buffer | undefined> {
    const bytes = await readFile(join(this.packsDir, `${id}.idx`)).catch(() => undefined);
    return bytes !== undefined && hash("sha256", bytes, "hex") === id ? bytes : undefined;
  }

  /** The number of the pack in `packs`, or -1. */
  private numberOf(id: string): number {
    return this.packs.findIndex((ref) => ref.id === id);
  }

  /** The number of the pack in `packs`, added when it is not there yet. */
  private packNumber(id: string): number {
    const number = this.numberOf(id);
    return number >= 0 ? number : this.packs.push({ id }) - 1;
  }

  /**
   * Records that chunks already in the repository are used again, without reading them: true when every
   * one is known (the caller then skips reading the data), false when any is not (nothing recorded).
   */
  reuse(hexHashes: readonly string[]): boolean {
    if (!this.loaded) throw new CollectiveError("INTERNAL", "ChunkStore.reuse() before load()");
    const numbers: number[] = [];
    for (const hex of hexHashes) {
      if (!parseDigestHex(hex, this.scratch)) return false;
      const number = this.known.get(this.scratch);
      if (number < 0) return false;
      if (!numbers.includes(number)) numbers.push(number);
    }
    for (const number of numbers) this.use(this.packs[number]!);
    this.stats.chunks += hexHashes.length;
    return true;
  }

  /**
   * Records that a disk stored before is used again as it was: its metadata stream's index object
   * (`stream`: a block map or a listing) must be in the repository and its chunks in the packs named (all
   * complete packs of the repository). False when one is missing (nothing recorded).
   */
  async reuseStored(stream: string, ids: readonly string[], chunks: number): Promise<boolean> {
    const present = await stat(join(this.objectsDir, stream)).then(
      () => true,
      () => false,
    );
    if (!present) return false;
    const numbers: number[] = [];
    for (const id of ids) {
      let number = this.numberOf(id);
      // Before load(), each pack named is checked on its own (its index there and sound).
      if (number < 0 && !this.loaded && (await this.validIndex(id)) !== undefined)
        number = this.packNumber(id);
      if (number < 0) return false;
      numbers.push(number);
    }
    for (const number of numbers) this.use(this.packs[number]!);
    this.stats.chunks += chunks;
    return true;
  }

  /**
   * Starts counting the chunks and collecting the packs used from now on (by one disk): `chunks()` when
   * the disk is stored, `packs()` once the store is finished (a new pack's id is known only then).
   */
  track(): { chunks: () => number; packs: () => string[] } {
    const tracked = new Set<PackRef>();
    this.tracked = tracked;
    const start = this.stats.chunks;
    return {
      chunks: () => this.stats.chunks - start,
      packs: () => [...tracked].map((ref) => ref.id!).sort(),
    };
  }

  private use(ref: PackRef): void {
    this.used.add(ref);
    this.tracked?.add(ref);
  }

  /** Stores a chunk unless present; returns its hex hash. */
  async put(chunk: Uint8Array): Promise<string> {
    await this.putDigestInto(chunk, this.digest);
    return this.digest.toString("hex");
  }

  /** Stores a chunk unless present; returns its hash as bytes. */
  async putDigest(chunk: Uint8Array): Promise<Buffer> {
    const digest = Buffer.allocUnsafe(32);
    await this.putDigestInto(chunk, digest);
    return digest;
  }

  /**
   * Stores a chunk unless present; writes its hash into `out` at `at` (a block map: no Buffer per block,
   * which cost more than hashing a 1 KiB block: sha256.ts).
   */
  async putDigestInto(chunk: Uint8Array, out: Uint8Array, at = 0): Promise<void> {
    if (!this.loaded) await this.load();
    sha256Into(chunk, out, at);
    this.stats.chunks++;
    const existing = this.known.get(out, at);
    if (existing >= 0) {
      this.use(this.packs[existing]!);
      return;
    }
    const digest = out.subarray(at, at + 32);
    const writer = await this.currentWriter();
    await writer.add(digest, chunk);
    this.stats.newChunks++;
    this.known.add(digest, this.writerNumber);
    this.use(writer.ref);
  }

  private async currentWriter(): Promise<PackWriter> {
    if (this.writer !== undefined && this.writer.bytes >= PACK_LIMIT) {
      this.stats.newBytes += (await this.writer.finish(join(this.repoDir, "packs"))).bytes;
      this.writer = undefined;
    }
    if (this.writer === undefined) {
      this.writer = await PackWriter.create(this.tempDir, `pack-${this.packSerial++}`, Compression.zstd);
      this.writerNumber = this.packs.push(this.writer.ref) - 1;
    }
    return this.writer;
  }

  /** Stores a metadata stream as chunks plus a stream index; returns the index's hash. */
  async putStream(data: Buffer): Promise<string> {
    const hashes: Buffer[] = [];
    for (const chunk of chunkBuffer(data, this.metaCdc)) hashes.push(await this.putDigest(chunk));
    const object = encodeObject(ObjectType.streamIndex, Buffer.concat(hashes));
    const path = join(this.objectsDir, object.hash);
    const exists = await access(path).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await writeFileAtomic(path, object.bytes);
      this.stats.newBytes += object.bytes.length;
    }
    return object.hash;
  }

  /** Finishes the open pack; returns the ids of every pack the version uses, sorted. */
  async finish(): Promise<string[]> {
    if (this.writer !== undefined) {
      if (this.writer.count > 0) {
        this.stats.newBytes += (await this.writer.finish(join(this.repoDir, "packs"))).bytes;
      } else {
        await this.writer.abort();
      }
      this.writer = undefined;
    }
    const ids: string[] = [];
    for (const ref of this.used) {
      if (ref.id === undefined) throw new CollectiveError("INTERNAL", "a used pack was never finished");
      ids.push(ref.id);
    }
    return [...new Set(ids)].sort();
  }

  async abort(): Promise<void> {
    await this.writer?.abort();
    this.writer = undefined;
  }

  static tempName(): string {
    return `${process.pid}-${randomBytes(4).toString("hex")}`;
  }
}
