/**
 * Writes one pack at a time under tmp/, then renames pack and index into packs/ (pack first: an index
 * under its final name means its pack is complete). Chunks are buffered into large writes.
 */
import { hash } from "node:crypto";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type CompressionMethod, compressChunk } from "./compression.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { IndexBuilder, PACK_HEADER, packHeader } from "./pack-index.js";

const WRITE_BUFFER = 4 << 20;

/** The identity of a pack being written: its id is known only when the pack is finished. */
export interface PackRef {
  id: string | undefined;
}

export class PackWriter {
  readonly ref: PackRef = { id: undefined };
  private readonly entries = new IndexBuilder();
  /** Stored chunks are copied into this buffer: compressed outputs are views of much larger allocations. */
  private readonly buffer = Buffer.allocUnsafe(WRITE_BUFFER);
  private pendingBytes = 0;
  private size = PACK_HEADER;

  private constructor(
    private readonly handle: FileHandle,
    private readonly tempPath: string,
    private readonly method: CompressionMethod,
  ) {}

  static async create(tempDir: string, name: string, method: CompressionMethod): Promise<PackWriter> {
    const tempPath = join(tempDir, `${name}.pack`);
    const handle = await open(tempPath, "wx", 0o644);
    const writer = new PackWriter(handle, tempPath, method);
    await handle.write(packHeader());
    return writer;
  }

  get bytes(): number {
    return this.size;
  }

  get count(): number {
    return this.entries.count;
  }

  /** Appends a chunk (already known to be new); returns the bytes it takes in the pack. */
  async add(chunkHash: Buffer, raw: Uint8Array): Promise<number> {
    const stored = compressChunk(raw, this.method);
    this.entries.add(chunkHash, this.size, stored.length, raw.length);
    this.size += stored.length;
    if (this.pendingBytes + stored.length > WRITE_BUFFER) await this.flush();
    if (stored.length > WRITE_BUFFER) {
      await this.handle.write(stored);
    } else {
      this.buffer.set(stored, this.pendingBytes);
      this.pendingBytes += stored.length;
    }
    return stored.length;
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    await this.handle.write(this.buffer, 0, this.pendingBytes);
    this.pendingBytes = 0;
  }

  /** Syncs the pack and moves it and its index into packsDir; returns the pack id and index size. */
  async finish(packsDir: string): Promise<{ id: string; indexBytes: number }> {
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
    const index = this.entries.encode(this.method);
    const id = hash("sha256", index, "hex");
    await rename(this.tempPath, join(packsDir, `${id}.pack`));
    await writeFileAtomic(join(packsDir, `${id}.idx`), index);
    this.ref.id = id;
    return { id, indexBytes: index.length };
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await unlink(this.tempPath).catch(() => undefined);
  }
}
