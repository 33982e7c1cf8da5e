/**
 * Writes one pack at a time under tmp/ and its index beside it (seal), then renames both into packs/
 * (install: pack first, index last, so an index under its final name means its pack is complete, and
 * nothing reaches packs/ before both are whole and synced). New chunks are gathered into frames (runs of
 * consecutive chunks compressed as one stream: one coder call per ~64 KiB instead of per 1-8 KiB chunk,
 * and a better ratio), and frames are buffered into large writes that overlap with compressing the next
 * frames, with the pack flushed to disk in the background as it grows.
 */
import { hash } from "node:crypto";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type CompressionMethod, compressFrame, looksIncompressible } from "./compression.js";
import { renameInto, writeAll, writeFileAtomic } from "./fs-atomic.js";
import { IndexBuilder, PACK_HEADER, packHeader } from "./pack-index.js";

const WRITE_BUFFER = 4 << 20;
/** Every this many bytes written, the pack is flushed to disk in the background (see flush). */
const EARLY_SYNC = 32 << 20;
/**
 * A frame is closed once it holds this many raw bytes. Larger frames compress better and cost fewer
 * coder calls; smaller ones make a reader that needs one chunk fetch and decompress less around it.
 */
export const FRAME_TARGET = 64 << 10;

/** The identity of a pack being written: its id is known only when the pack is finished. */
export interface PackRef {
  id: string | undefined;
}

export class PackWriter {
  readonly ref: PackRef = { id: undefined };
  private readonly entries = new IndexBuilder();
  /**
   * Frames' stored bytes are copied into one buffer and written in large pieces; the other buffer is
   * being written meanwhile (on libuv's thread pool), so compressing the next frames does not wait for it.
   */
  private buffer = Buffer.allocUnsafe(WRITE_BUFFER);
  private spare = Buffer.allocUnsafe(WRITE_BUFFER);
  private pendingBytes = 0;
  /** The write of `spare` in flight, if any. */
  private writing: Promise<void> | undefined;
  /** Bytes handed to the kernel since the last early flush to disk was started. */
  private unsyncedBytes = 0;
  /** An early fdatasync in flight: the disk writes the pack while later frames are compressed. */
  private syncing: Promise<void> | undefined;
  private size = PACK_HEADER;
  /** Where the next write goes: bytes handed to writes so far (the pack's bytes less those still buffered). */
  private written = PACK_HEADER;
  /** The frame being filled: raw chunks back to back (below FRAME_TARGET, plus one chunk). */
  private readonly frame = Buffer.allocUnsafe(2 * FRAME_TARGET);
  private frameBytes = 0;

  private constructor(
    private readonly handle: FileHandle,
    private readonly tempPath: string,
    /** The index under tmp/, once sealed. */
    private readonly tempIndexPath: string,
    private readonly method: CompressionMethod,
  ) {}

  static async create(tempDir: string, name: string, method: CompressionMethod): Promise<PackWriter> {
    const tempPath = join(tempDir, `${name}.pack`);
    const handle = await open(tempPath, "wx", 0o644);
    const writer = new PackWriter(handle, tempPath, join(tempDir, `${name}.idx`), method);
    try {
      const header = packHeader();
      await writeAll(handle, header, 0, header.length, 0);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  /** Bytes of the pack so far, including the frame being filled (as if stored raw). */
  get bytes(): number {
    return this.size + this.frameBytes;
  }

  get count(): number {
    return this.entries.count;
  }

  /** Appends a chunk (already known to be new). */
  async add(chunkHash: Uint8Array, raw: Uint8Array): Promise<void> {
    if (raw.length > FRAME_TARGET) throw new Error(`a chunk of ${raw.length} bytes is larger than a frame`);
    this.entries.add(chunkHash, this.entries.frameCount, this.frameBytes, raw.length);
    this.frame.set(raw, this.frameBytes);
    this.frameBytes += raw.length;
    if (this.frameBytes >= FRAME_TARGET) await this.closeFrame();
  }

  private async closeFrame(): Promise<void> {
    if (this.frameBytes === 0) return;
    const raw = this.frame.subarray(0, this.frameBytes);
    // Random or already compressed data is stored without trying the compressor (one sample per frame:
    // per chunk, the test cost most of what it saved).
    const stored = looksIncompressible(raw) ? raw : compressFrame(raw, this.method);
    this.entries.addFrame(this.size, stored.length, raw.length);
    this.size += stored.length;
    this.frameBytes = 0;
    if (this.pendingBytes + stored.length > WRITE_BUFFER) await this.flush();
    this.buffer.set(stored, this.pendingBytes);
    this.pendingBytes += stored.length;
  }

  /** Starts writing the filled buffer after the write before it has finished; does not wait for it. */
  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    await this.writing;
    const full = this.buffer;
    const length = this.pendingBytes;
    this.buffer = this.spare;
    this.spare = full;
    this.pendingBytes = 0;
    this.writing = writeAll(this.handle, full, 0, length, this.written);
    this.written += length;
    this.writing.catch(() => undefined); // awaited by the next flush or by finish
    this.unsyncedBytes += length;
    if (this.unsyncedBytes >= EARLY_SYNC) {
      // fsync at the end otherwise waits for the disk to take the whole pack at once.
      await this.syncing;
      this.unsyncedBytes = 0;
      this.syncing = this.writing.then(() => this.handle.datasync());
      this.syncing.catch(() => undefined); // awaited by the next early sync or by finish
    }
  }

  /**
   * Writes the rest of the pack and its index under tmp/, both synced, and names the pack (ref.id);
   * returns the pack id and the bytes added. Nothing is in packs/ yet: install() puts it there.
   */
  async seal(): Promise<{ id: string; bytes: number }> {
    await this.closeFrame();
    await this.flush();
    await this.writing;
    await this.syncing;
    await this.handle.sync();
    await this.handle.close();
    const index = this.entries.encode(this.method);
    const id = hash("sha256", index, "hex");
    await writeFileAtomic(this.tempIndexPath, index);
    this.ref.id = id;
    return { id, bytes: this.size + index.length };
  }

  /**
   * Renames the sealed pack, then its index, into packsDir; adds to `created` each file that was not
   * there before (a pack of the same id is the same bytes: an earlier or concurrent publish's, or the
   * remains of one that failed, which this replaces).
   */
  async install(packsDir: string, created: string[]): Promise<void> {
    const id = this.ref.id;
    if (id === undefined) throw new Error("PackWriter.install() before seal()");
    await renameInto(this.tempPath, join(packsDir, `${id}.pack`), created);
    await renameInto(this.tempIndexPath, join(packsDir, `${id}.idx`), created);
  }

  /** seal() and install() at once, for callers that need not undo it. */
  async finish(packsDir: string): Promise<{ id: string; bytes: number }> {
    const sealed = await this.seal();
    await this.install(packsDir, []);
    return sealed;
  }

  /** Removes what is left of the pack under tmp/ (never anything install() put in packs/). */
  async abort(): Promise<void> {
    await this.writing?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await unlink(this.tempPath).catch(() => undefined);
    await unlink(this.tempIndexPath).catch(() => undefined);
  }
}
