/**
 * One repository pack as the host cache holds it: the pack's index (verified against the pack id), a
 * sparse file of its chunks **decompressed and verified**, and a bitmap of which chunks are present.
 *
 * Chunks are laid out in the .raw file in the pack's own order (by offset in the .pack), each at the sum
 * of the raw lengths before it, so a version's chunks that were published together are read back with
 * few large reads. A chunk's bit is set only after its bytes were checked against its hash and written;
 * the bitmap is saved (atomically, after an fdatasync of the data) at the end of every fetched batch, so
 * an interrupted fetch keeps what it had verified and never trusts what it had not.
 */
import { constants } from "node:fs";
import { type FileHandle, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { paths, readLimits } from "../repo/format.js";
import { writeFileAtomic } from "../repo/fs-atomic.js";
import { sha256Hex } from "../repo/meta-object.js";
import { IDX_ENTRY, IDX_HEADER, PackIndex } from "../repo/pack-index.js";
import type { RepoTransport } from "../repo/transport.js";

export class CachedPack {
  /** Where each entry (by index position) lives in the .raw file. */
  private readonly rawOffsets: Float64Array;
  private dirty = false;

  private constructor(
    readonly index: PackIndex,
    /** The index file's bytes: the hot lookups below read them directly, without allocating. */
    private readonly indexBytes: Buffer,
    private readonly have: Uint8Array,
    private readonly raw: FileHandle,
    private readonly bitmapPath: string,
  ) {
    this.rawOffsets = this.layOut();
  }

  /** Opens a pack from the cache, fetching and verifying its index first when the cache lacks it. */
  static async open(packsDir: string, id: string, transport: RepoTransport): Promise<CachedPack> {
    const indexPath = join(packsDir, `${id}.idx`);
    let bytes = await readFile(indexPath).catch(() => undefined);
    if (bytes === undefined || sha256Hex(bytes) !== id) {
      bytes = Buffer.from(await transport.readFile(paths.packIndex(id), { maxBytes: readLimits.packIndex }));
      if (sha256Hex(bytes) !== id) {
        throw new CollectiveError(
          "PACK_INDEX_CORRUPT",
          `pack index ${id} from ${transport.url} does not match its id`,
          {
            hint: "The repository is damaged or the server altered it; nothing was cached. Run `cui repo verify` on it.",
          },
        );
      }
      await writeFileAtomic(indexPath, bytes);
    }
    const index = new PackIndex(id, bytes);
    const bitmapPath = join(packsDir, `${id}.have`);
    const have = new Uint8Array(Math.ceil(index.count / 8));
    const saved = await readFile(bitmapPath).catch(() => undefined);
    if (saved?.length === have.length) have.set(saved);
    const raw = await open(join(packsDir, `${id}.raw`), constants.O_RDWR | constants.O_CREAT, 0o644);
    return new CachedPack(index, bytes, have, raw, bitmapPath);
  }

  get id(): string {
    return this.index.id;
  }

  has(entry: number): boolean {
    return ((this.have[entry >> 3] ?? 0) & (1 << (entry & 7))) !== 0;
  }

  rawOffset(entry: number): number {
    return this.rawOffsets[entry]!;
  }

  storedLength(entry: number): number {
    return this.indexBytes.readUInt32BE(IDX_HEADER + entry * IDX_ENTRY + 40);
  }

  rawLength(entry: number): number {
    return this.indexBytes.readUInt32BE(IDX_HEADER + entry * IDX_ENTRY + 44);
  }

  /**
   * The chunk's position in the index (its bit in the bitmap), or -1. A binary search comparing the hash
   * four bytes at a time in place: it runs once per chunk of every disk, so it must not allocate.
   */
  position(chunkHash: Uint8Array): number {
    const wanted = Buffer.from(chunkHash.buffer, chunkHash.byteOffset, 32);
    let low = 0;
    let high = this.index.count - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = IDX_HEADER + mid * IDX_ENTRY;
      let order = 0;
      for (let word = 0; word < 32 && order === 0; word += 4) {
        order = this.indexBytes.readUInt32BE(at + word) - wanted.readUInt32BE(word);
      }
      if (order === 0) return mid;
      if (order < 0) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /**
   * Stores chunks that the caller has verified, entries lying back to back in the .raw file (in pack
   * order), with one vectored write; marks them present (saved at the next commit).
   */
  async storeRun(entries: readonly number[], raws: readonly Uint8Array[]): Promise<void> {
    if (entries.length === 0) return;
    await this.raw.writev(raws as Uint8Array[], this.rawOffset(entries[0]!));
    for (const entry of entries) this.have[entry >> 3]! |= 1 << (entry & 7);
    this.dirty = true;
  }

  /** Makes the chunks stored so far durable, then records them as present. */
  async commit(): Promise<void> {
    if (!this.dirty) return;
    await this.raw.datasync();
    await writeFileAtomic(this.bitmapPath, this.have);
    this.dirty = false;
  }

  /** Reads bytes of the .raw file (present chunks only: the caller checks has()). */
  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.raw.read(out, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done < length) {
      throw new CollectiveError(
        "CACHE_CORRUPT",
        `the cache's copy of pack ${this.id} is shorter than its bitmap says`,
        {
          hint: "Remove the pack's .have file from the cache (or the whole cache) and fetch again.",
        },
      );
    }
    return out;
  }

  /** Offsets in the .raw file: entries in the order of their offsets in the .pack, back to back. */
  private layOut(): Float64Array {
    const count = this.index.count;
    const packOffset = (entry: number): number =>
      Number(this.indexBytes.readBigUInt64BE(IDX_HEADER + entry * IDX_ENTRY + 32));
    const starts = new Float64Array(count);
    for (let i = 0; i < count; i++) starts[i] = packOffset(i);
    const order = Uint32Array.from({ length: count }, (_, i) => i).sort((a, b) => starts[a]! - starts[b]!);
    const offsets = new Float64Array(count);
    let at = 0;
    for (const entry of order) {
      offsets[entry] = at;
      at += this.rawLength(entry);
    }
    return offsets;
  }

  async close(): Promise<void> {
    await this.commit();
    await this.raw.close();
  }
}
