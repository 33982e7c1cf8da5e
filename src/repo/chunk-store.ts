/**
 * The publishing side of a repository's chunk storage: knows every chunk already stored (from the pack
 * indexes), stores only new ones, and records which packs a version uses. Also stores metadata streams
 * (tree listings, block maps) as chunks plus a stream index object.
 *
 * New packs and objects are written whole under the publisher's tmp/ directory first (seal) and renamed
 * into packs/ and objects/ only by install(), which a publish calls under the publish lock just before its
 * version's rename. Until keep(), abort() removes again every file install() created (never one that was
 * there before), so a publish that fails adds nothing to packs/ or objects/.
 */
import { hash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { pathExists } from "../sys/path-exists.js";
import { Compression } from "./compression.js";
import { DigestTable, parseDigestHex } from "./digest-table.js";
import { chunkBuffer, FastCdc, metadataChunking } from "./fastcdc.js";
import { renameInto, syncDirectory, writeFileAtomic } from "./fs-atomic.js";
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
  /** Packs written whole under tmp/, not yet installed. */
  private readonly sealed: PackWriter[] = [];
  /** New stream index objects written under tmp/, not yet installed: hash -> temporary path. */
  private readonly staged = new Map<string, string>();
  /** Files install() created in packs/ and objects/, in order; abort() removes them until keep(). */
  private installed: string[] = [];
  /** Every stream index object the version refers to through this store (new or already stored). */
  private readonly usedObjects = new Set<string>();
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
    if (!this.staged.has(stream) && !(await pathExists(join(this.objectsDir, stream)))) return false;
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
    this.usedObjects.add(stream);
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
      this.stats.newBytes += (await this.writer.seal()).bytes;
      this.sealed.push(this.writer);
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
    this.usedObjects.add(object.hash);
    if (!this.staged.has(object.hash) && !(await pathExists(join(this.objectsDir, object.hash)))) {
      const temp = join(this.tempDir, `object-${object.hash}`);
      await writeFileAtomic(temp, object.bytes);
      this.staged.set(object.hash, temp);
      this.stats.newBytes += object.bytes.length;
    }
    return object.hash;
  }

  /**
   * Writes the open pack whole under tmp/ (nothing goes to packs/ or objects/ yet: install()); returns
   * the ids of every pack the version uses, sorted.
   */
  async seal(): Promise<string[]> {
    if (this.writer !== undefined) {
      if (this.writer.count > 0) {
        this.stats.newBytes += (await this.writer.seal()).bytes;
        this.sealed.push(this.writer);
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

  /**
   * Renames the sealed packs (each pack, then its index) and the new objects into packs/ and objects/,
   * and syncs those directories. An object already there is left as it is (the same bytes: its name is
   * their hash). Makes what it renamed visible to every reader and publisher: a publish calls it under the
   * publish lock, and until keep() abort() removes what it created.
   */
  async install(): Promise<void> {
    const renamedPacks = this.sealed.length > 0;
    while (this.sealed.length > 0) {
      await this.sealed[0]!.install(this.packsDir, this.installed);
      this.sealed.shift();
    }
    let renamedObjects = false;
    if (this.staged.size > 0) await mkdir(this.objectsDir, { recursive: true }); // as writeFileAtomic did
    for (const [name, temp] of this.staged) {
      const path = join(this.objectsDir, name);
      if (!(await pathExists(path))) {
        await renameInto(temp, path, this.installed);
        renamedObjects = true;
      }
      this.staged.delete(name);
    }
    // The version about to refer to them must not survive a power cut that they do not.
    if (renamedPacks) await syncDirectory(this.packsDir);
    if (renamedObjects) await syncDirectory(this.objectsDir);
  }

  /**
   * Throws unless every pack (its index) and object the version refers to is in the repository: a
   * publish calls it under the publish lock before its version's rename, so that a version never refers to
   * what a concurrent publish installed and then removed again when it failed.
   */
  async checkInstalled(): Promise<void> {
    const missing: string[] = [];
    for (const { id } of this.used)
      if (id === undefined || !(await pathExists(join(this.packsDir, `${id}.idx`))))
        missing.push(`pack ${id ?? "(unfinished)"}`);
    for (const name of this.usedObjects)
      if (!(await pathExists(join(this.objectsDir, name)))) missing.push(`object ${name}`);
    if (missing.length > 0) {
      throw new CollectiveError(
        "PUBLISH_RACE",
        `${missing.join(", ")} of this version left ${this.repoDir} while publishing (a publish that failed at the same time removed what it had added); nothing was published`,
        { hint: "publish again" },
      );
    }
  }

  /** seal() and install() at once, kept: for callers that need not undo it. Returns the pack ids. */
  async finish(): Promise<string[]> {
    const ids = await this.seal();
    await this.install();
    this.keep();
    return ids;
  }

  /** The version now refers to what install() created: abort() must no longer remove it. */
  keep(): void {
    this.installed = [];
  }

  /**
   * Removes every file install() created since the last keep(), the last first (an index goes before its
   * pack: an index never names a pack that is gone), and what is left under tmp/.
   */
  async abort(): Promise<void> {
    await this.writer?.abort();
    this.writer = undefined;
    for (const writer of this.sealed.splice(0)) await writer.abort();
    for (const temp of this.staged.values()) await unlink(temp).catch(() => undefined);
    this.staged.clear();
    const installed = this.installed;
    this.installed = [];
    for (const path of installed.reverse()) await unlink(path).catch(() => undefined);
  }

  static tempName(): string {
    return `${process.pid}-${randomBytes(4).toString("hex")}`;
  }
}
