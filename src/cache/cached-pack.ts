/**
 * One repository pack as the host cache holds it: the pack's index (verified against the pack id), a
 * sparse file of its frames **decompressed and verified** (every chunk of a frame checked against its
 * hash), and a bitmap of which frames are present.
 *
 * Frames are laid out in the .raw file in the pack's own order, each at the sum of the raw lengths of
 * the frames before it, so a chunk lies at its frame's place plus its offset in the frame, and a
 * version's chunks that were published together are read back with few large reads. A frame's bit is
 * set only after its chunks were checked and written; the bitmap is saved (atomically, after an
 * fdatasync of the data) at the end of every fetched batch, so an interrupted fetch keeps what it had
 * verified and never trusts what it had not.
 */
import { constants } from "node:fs";
import { type FileHandle, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { paths, readLimits } from "../repo/format.js";
import { writeFileAtomic } from "../repo/fs-atomic.js";
import { sha256Hex } from "../repo/meta-object.js";
import { PackIndex } from "../repo/pack-index.js";
import type { RepoTransport } from "../repo/transport.js";

export class CachedPack {
  /** Where each frame lives in the .raw file. */
  private readonly frameOffsets: Float64Array;
  private dirty = false;

  private constructor(
    readonly index: PackIndex,
    /** One bit per frame. */
    private readonly have: Uint8Array,
    private readonly raw: FileHandle,
    private readonly bitmapPath: string,
  ) {
    this.frameOffsets = new Float64Array(index.frameCount);
    let at = 0;
    for (let f = 0; f < index.frameCount; f++) {
      this.frameOffsets[f] = at;
      at += index.frameRawLength(f);
    }
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
    const have = new Uint8Array(Math.ceil(index.frameCount / 8));
    const saved = await readFile(bitmapPath).catch(() => undefined);
    if (saved?.length === have.length) have.set(saved);
    const raw = await open(join(packsDir, `${id}.raw`), constants.O_RDWR | constants.O_CREAT, 0o644);
    return new CachedPack(index, have, raw, bitmapPath);
  }

  get id(): string {
    return this.index.id;
  }

  hasFrame(frame: number): boolean {
    return ((this.have[frame >> 3] ?? 0) & (1 << (frame & 7))) !== 0;
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

  /** The chunk's position in the index, or -1. */
  position(chunkHash: Uint8Array): number {
    return this.index.indexOf(chunkHash);
  }

  /**
   * Stores frames that the caller has verified, consecutive frames of the pack (so back to back in the
   * .raw file), with one vectored write; marks them present (saved at the next commit).
   */
  async storeFrames(first: number, raws: readonly Uint8Array[]): Promise<void> {
    if (raws.length === 0) return;
    await this.raw.writev(raws as Uint8Array[], this.frameOffset(first));
    for (let frame = first; frame < first + raws.length; frame++) this.have[frame >> 3]! |= 1 << (frame & 7);
    this.dirty = true;
  }

  /** Makes the frames stored so far durable, then records them as present. */
  async commit(): Promise<void> {
    if (!this.dirty) return;
    await this.raw.datasync();
    await writeFileAtomic(this.bitmapPath, this.have);
    this.dirty = false;
  }

  /** Reads bytes of the .raw file (present frames only: the caller checks has()). */
  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const out = into ?? Buffer.allocUnsafe(length);
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

  async close(): Promise<void> {
    await this.commit();
    await this.raw.close();
  }
}
