/**
 * The publishing side of a repository's chunk storage: knows every chunk already stored (from the pack
 * indexes), stores only new ones, and records which packs a version uses. Also stores metadata streams
 * (tree listings, block maps) as chunks plus a stream index object.
 */
import { hash, randomBytes } from "node:crypto";
import { access, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { Compression } from "./compression.js";
import { chunkBuffer, FastCdc, metadataChunking } from "./fastcdc.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { encodeObject, ObjectType } from "./meta-object.js";
import { PackIndex } from "./pack-index.js";
import { type PackRef, PackWriter } from "./pack-writer.js";

/** Packs are cut at this size so that no single file grows without bound. */
const PACK_LIMIT = 1 << 30;

export interface StoreStats {
  chunks: number;
  newChunks: number;
  newBytes: number;
}

export class ChunkStore {
  /** hash (as a latin1 string) -> the pack that holds it. */
  private readonly known = new Map<string, PackRef>();
  private readonly used = new Set<PackRef>();
  private writer: PackWriter | undefined;
  private readonly metaCdc = new FastCdc(metadataChunking);
  private packSerial = 0;
  readonly stats: StoreStats = { chunks: 0, newChunks: 0, newBytes: 0 };

  private constructor(
    private readonly repoDir: string,
    private readonly tempDir: string,
  ) {}

  /** Loads the indexes of every complete pack in the repository. */
  static async open(repoDir: string, tempDir: string): Promise<ChunkStore> {
    const store = new ChunkStore(repoDir, tempDir);
    const packsDir = join(repoDir, "packs");
    const names = await readdir(packsDir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.endsWith(".idx")) continue;
      const id = name.slice(0, -4);
      const bytes = await readFile(join(packsDir, name));
      if (hash("sha256", bytes, "hex") !== id) continue; // never dedupe against a damaged index
      const index = new PackIndex(id, bytes);
      const ref: PackRef = { id };
      for (let i = 0; i < index.count; i++) store.known.set(index.hashAt(i).toString("latin1"), ref);
    }
    return store;
  }

  /**
   * Records that chunks already in the repository are used again, without reading them: true when every
   * one is known (the caller then skips reading the data), false when any is not (nothing recorded).
   */
  reuse(hexHashes: readonly string[]): boolean {
    const refs: PackRef[] = [];
    for (const hex of hexHashes) {
      const ref = this.known.get(Buffer.from(hex, "hex").toString("latin1"));
      if (ref === undefined) return false;
      refs.push(ref);
    }
    for (const ref of refs) this.used.add(ref);
    this.stats.chunks += hexHashes.length;
    return true;
  }

  /** Stores a chunk unless present; returns its hex hash. */
  async put(chunk: Uint8Array): Promise<string> {
    return (await this.putDigest(chunk)).toString("hex");
  }

  /** Stores a chunk unless present; returns its hash as bytes. */
  async putDigest(chunk: Uint8Array): Promise<Buffer> {
    const digest = hash("sha256", chunk, "buffer");
    // latin1 keys: 32 one-byte characters, half the memory of hex for a million known chunks.
    const key = digest.toString("latin1");
    this.stats.chunks++;
    const existing = this.known.get(key);
    if (existing !== undefined) {
      this.used.add(existing);
      return digest;
    }
    const writer = await this.currentWriter();
    this.stats.newBytes += await writer.add(digest, chunk);
    this.stats.newChunks++;
    this.known.set(key, writer.ref);
    this.used.add(writer.ref);
    return digest;
  }

  private async currentWriter(): Promise<PackWriter> {
    if (this.writer !== undefined && this.writer.bytes >= PACK_LIMIT) {
      this.stats.newBytes += (await this.writer.finish(join(this.repoDir, "packs"))).indexBytes;
      this.writer = undefined;
    }
    if (this.writer === undefined) {
      this.writer = await PackWriter.create(this.tempDir, `pack-${this.packSerial++}`, Compression.brotli);
    }
    return this.writer;
  }

  /** Stores a metadata stream as chunks plus a stream index; returns the index's hash. */
  async putStream(data: Buffer): Promise<string> {
    const hashes: Buffer[] = [];
    for (const chunk of chunkBuffer(data, this.metaCdc))
      hashes.push(Buffer.from(await this.put(chunk), "hex"));
    const object = encodeObject(ObjectType.streamIndex, Buffer.concat(hashes));
    const path = join(this.repoDir, "objects", object.hash);
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
        const { indexBytes } = await this.writer.finish(join(this.repoDir, "packs"));
        this.stats.newBytes += indexBytes;
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
