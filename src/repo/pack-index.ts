/**
 * Pack indexes (packs/<id>.idx, format 2): a 16-byte header, 44-byte chunk entries sorted by chunk hash,
 * then a 16-byte entry per frame in pack order. A reader finds a chunk by binary search in the fetched
 * bytes without parsing them into objects; the chunk names its frame (the unit that is fetched and
 * decompressed) and its place in the frame's raw bytes.
 */
import { CollectiveError } from "../errors.js";
import { Compression } from "./compression.js";

export const IDX_MAGIC = "CIDX";
export const PACK_MAGIC = "CPAK";
export const PACK_FORMAT = 2;
/** The highest compression method this cui reads (3 = zstd). */
const MAX_COMPRESSION = Math.max(...Object.values(Compression));
export const IDX_HEADER = 16;
export const IDX_ENTRY = 44;
export const IDX_FRAME = 16;
export const PACK_HEADER = 16;
/** The largest raw frame a reader accepts: bounds what one hostile frame can make a reader allocate. */
export const MAX_FRAME_RAW = 1 << 20;

/** One chunk: where it lies inside its frame's raw (decompressed) bytes. */
export interface PackEntry {
  /** SHA-256 of the raw chunk. */
  readonly hash: Uint8Array;
  /** Position of the chunk's frame in the frame table. */
  readonly frame: number;
  /** Offset of the chunk in the frame's raw bytes. */
  readonly offsetInFrame: number;
  readonly rawLength: number;
}

/** One frame: a run of chunks stored (compressed, or raw when stored = raw length) back to back. */
export interface PackFrame {
  /** From the start of the .pack file. */
  readonly offset: number;
  readonly storedLength: number;
  readonly rawLength: number;
}

export function packHeader(): Buffer {
  const header = Buffer.alloc(PACK_HEADER);
  header.write(PACK_MAGIC, 0, "latin1");
  header.writeUInt16BE(PACK_FORMAT, 4);
  return header;
}

function corrupt(id: string, message: string): CollectiveError {
  return new CollectiveError("PACK_INDEX_CORRUPT", `pack index ${id} ${message}`, {
    hint: "The repository is damaged or was tampered with; run `cui repo verify` on it.",
  });
}

/** A parsed, validated index: lookups read the buffer directly. */
export class PackIndex {
  readonly count: number;
  readonly frameCount: number;
  readonly compression: number;
  private readonly framesAt: number;
  /**
   * The bytes as big-endian words: a DataView's getUint32 costs a fraction of Buffer.readUInt32BE's
   * argument checks, which showed in every pull (the check below runs before the JIT has warmed up).
   */
  private readonly view: DataView;
  /** Where each 16-bit hash prefix's entries start (see indexOf); built on first use. */
  private buckets: Uint32Array | undefined;
  /** Entry positions grouped by frame (see entriesOfFrame); built on first use. */
  private byFrame: { order: Uint32Array; starts: Uint32Array } | undefined;

  constructor(
    readonly id: string,
    private readonly bytes: Buffer,
  ) {
    if (bytes.length < IDX_HEADER || bytes.toString("latin1", 0, 4) !== IDX_MAGIC)
      throw corrupt(id, `does not start with ${IDX_MAGIC}`);
    if (bytes.readUInt16BE(4) !== PACK_FORMAT)
      throw corrupt(id, `has format ${bytes.readUInt16BE(4)}; this cui reads format ${PACK_FORMAT}`);
    this.compression = bytes.readUInt8(6);
    // Checked here, not at the first frame: a method a newer writer added is named as such, not as a
    // corrupt chunk.
    if (this.compression > MAX_COMPRESSION)
      throw corrupt(
        id,
        `uses compression method ${this.compression}; this cui reads methods 0 to ${MAX_COMPRESSION} (none, deflate, brotli, zstd): a newer cui may have written it`,
      );
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.count = bytes.readUInt32BE(8);
    this.frameCount = bytes.readUInt32BE(12);
    this.framesAt = IDX_HEADER + this.count * IDX_ENTRY;
    const expected = this.framesAt + this.frameCount * IDX_FRAME;
    if (bytes.length !== expected) throw corrupt(id, `is ${bytes.length} bytes, expected ${expected}`);
    this.check();
  }

  /**
   * Every frame lies where the previous one ended and is no larger than MAX_FRAME_RAW; every chunk lies
   * inside its frame; hashes are strictly increasing. Readers size buffers and requests from these
   * numbers, so they are checked once here rather than trusted at each use.
   */
  private check(): void {
    const view = this.view;
    let end = PACK_HEADER;
    for (let f = 0; f < this.frameCount; f++) {
      const at = this.framesAt + f * IDX_FRAME;
      // The offset is a 64-bit field: its high word must be 0 for it to equal end (below 2^53 anyway).
      const offset = view.getUint32(at) * 0x1_0000_0000 + view.getUint32(at + 4);
      if (offset !== end) throw corrupt(this.id, `frame ${f} is not where frame ${f - 1} ends`);
      const stored = view.getUint32(at + 8);
      const raw = view.getUint32(at + 12);
      if (raw > MAX_FRAME_RAW || stored > raw) throw corrupt(this.id, `frame ${f} has impossible lengths`);
      end += stored;
    }
    for (let i = 0; i < this.count; i++) {
      const at = IDX_HEADER + i * IDX_ENTRY;
      const frame = view.getUint32(at + 32);
      if (frame >= this.frameCount) throw corrupt(this.id, `entry ${i} names a frame it does not have`);
      const frameRaw = view.getUint32(this.framesAt + frame * IDX_FRAME + 12);
      if (view.getUint32(at + 36) + view.getUint32(at + 40) > frameRaw)
        throw corrupt(this.id, `entry ${i} does not lie inside its frame`);
      if (i > 0 && compareHashes(view, at - IDX_ENTRY, at) >= 0)
        throw corrupt(this.id, `is not sorted by hash`);
    }
  }

  hashAt(i: number): Buffer {
    const at = IDX_HEADER + i * IDX_ENTRY;
    return this.bytes.subarray(at, at + 32);
  }

  /** The index's bytes and where entry i's hash starts in them: for loops that must not allocate a view per entry. */
  get indexBytes(): Buffer {
    return this.bytes;
  }

  hashOffset(i: number): number {
    return IDX_HEADER + i * IDX_ENTRY;
  }

  frameOf(i: number): number {
    return this.view.getUint32(IDX_HEADER + i * IDX_ENTRY + 32);
  }

  offsetInFrame(i: number): number {
    return this.view.getUint32(IDX_HEADER + i * IDX_ENTRY + 36);
  }

  rawLength(i: number): number {
    return this.view.getUint32(IDX_HEADER + i * IDX_ENTRY + 40);
  }

  entryAt(i: number): PackEntry {
    return {
      hash: this.hashAt(i),
      frame: this.frameOf(i),
      offsetInFrame: this.offsetInFrame(i),
      rawLength: this.rawLength(i),
    };
  }

  frameAt(f: number): PackFrame {
    const at = this.framesAt + f * IDX_FRAME;
    return {
      offset: this.view.getUint32(at) * 0x1_0000_0000 + this.view.getUint32(at + 4),
      storedLength: this.view.getUint32(at + 8),
      rawLength: this.view.getUint32(at + 12),
    };
  }

  frameRawLength(f: number): number {
    return this.view.getUint32(this.framesAt + f * IDX_FRAME + 12);
  }

  frameStoredLength(f: number): number {
    return this.view.getUint32(this.framesAt + f * IDX_FRAME + 8);
  }

  /**
   * The position in the index of the chunk whose hash is the 32 bytes at `at` of `hashes`, or -1. A
   * binary search, comparing four bytes at a time in place, within the entries that share the hash's
   * first 16 bits (a table built on first use): it runs once per chunk of every disk, so it must not
   * allocate, and a 1 GiB image has 262,144 chunks.
   */
  indexOf(hashes: Uint8Array, at = 0): number {
    const view = this.view;
    const buckets = this.prefixBuckets();
    const wanted = word(hashes, at);
    const prefix = wanted >>> 16;
    let low = buckets[prefix]!;
    let high = buckets[prefix + 1]! - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const entry = IDX_HEADER + mid * IDX_ENTRY;
      // Words compared, not subtracted: a difference of two words past 2^31 made V8 drop its optimised code.
      let mine = view.getUint32(entry);
      let theirs = wanted;
      for (let k = 4; k < 32 && mine === theirs; k += 4) {
        mine = view.getUint32(entry + k);
        theirs = word(hashes, at + k);
      }
      if (mine === theirs) return mid;
      if (mine < theirs) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** buckets[p] = the first entry whose hash starts with 16 bits >= p (entries are sorted by hash). */
  private prefixBuckets(): Uint32Array {
    if (this.buckets === undefined) {
      const buckets = new Uint32Array(65537);
      let entry = 0;
      for (let p = 0; p <= 65536; p++) {
        while (entry < this.count && this.view.getUint16(IDX_HEADER + entry * IDX_ENTRY) < p) entry++;
        buckets[p] = entry;
      }
      this.buckets = buckets;
    }
    return this.buckets;
  }

  find(chunkHash: Uint8Array): PackEntry | undefined {
    const i = this.indexOf(chunkHash);
    return i < 0 ? undefined : this.entryAt(i);
  }

  /** The positions of the entries (chunks) that lie in frame f. */
  entriesOfFrame(f: number): Uint32Array {
    const { order, starts } = this.frameTable();
    return order.subarray(starts[f]!, starts[f + 1]!);
  }

  /**
   * Entry positions grouped by frame, built at the first call (9 ms for a pack of 90,000 chunks): a fetch
   * calls it while its first frames download, so that their arrival does not wait for it.
   */
  frameTable(): { order: Uint32Array; starts: Uint32Array } {
    if (this.byFrame === undefined) {
      // A counting sort by frame number: linear, and one typed array for the whole pack.
      const starts = new Uint32Array(this.frameCount + 1);
      for (let i = 0; i < this.count; i++) starts[this.frameOf(i) + 1]!++;
      for (let g = 0; g < this.frameCount; g++) starts[g + 1]! += starts[g]!;
      const next = starts.slice(0, this.frameCount);
      const order = new Uint32Array(this.count);
      for (let i = 0; i < this.count; i++) order[next[this.frameOf(i)]!++] = i;
      this.byFrame = { order, starts };
    }
    return this.byFrame;
  }
}

/**
 * Collects index entries and frames for a pack being written, as fixed-size records in growing buffers
 * (a JS object per chunk would cost several times as much memory for a pack of a million chunks).
 */
export class IndexBuilder {
  private records: Buffer = Buffer.allocUnsafe(IDX_ENTRY * 4096);
  private frames: Buffer = Buffer.allocUnsafe(IDX_FRAME * 256);
  count = 0;
  frameCount = 0;

  /** Adds a chunk of frame `frame` (frames are added with addFrame in their order, possibly later). */
  add(hash: Uint8Array, frame: number, offsetInFrame: number, rawLength: number): void {
    this.records = grow(this.records, (this.count + 1) * IDX_ENTRY);
    const at = this.count * IDX_ENTRY;
    this.records.set(hash, at);
    this.records.writeUInt32BE(frame, at + 32);
    this.records.writeUInt32BE(offsetInFrame, at + 36);
    this.records.writeUInt32BE(rawLength, at + 40);
    this.count++;
  }

  addFrame(offset: number, storedLength: number, rawLength: number): void {
    this.frames = grow(this.frames, (this.frameCount + 1) * IDX_FRAME);
    const at = this.frameCount * IDX_FRAME;
    this.frames.writeBigUInt64BE(BigInt(offset), at);
    this.frames.writeUInt32BE(storedLength, at + 8);
    this.frames.writeUInt32BE(rawLength, at + 12);
    this.frameCount++;
  }

  encode(compression: number): Buffer {
    const records = this.records;
    const order = sortByHash(records, this.count);
    const out = Buffer.alloc(IDX_HEADER + IDX_ENTRY * this.count + IDX_FRAME * this.frameCount);
    out.write(IDX_MAGIC, 0, "latin1");
    out.writeUInt16BE(PACK_FORMAT, 4);
    out.writeUInt8(compression, 6);
    out.writeUInt32BE(this.count, 8);
    out.writeUInt32BE(this.frameCount, 12);
    let at = IDX_HEADER;
    for (const i of order) {
      // A byte loop: Buffer.copy's argument checks cost more than copying 44 bytes.
      for (let k = i * IDX_ENTRY, end = k + IDX_ENTRY; k < end; k++) out[at++] = records[k]!;
    }
    this.frames.copy(out, at, 0, this.frameCount * IDX_FRAME);
    return out;
  }
}

/**
 * The positions of the records in hash order. Each position is packed with its hash's first 21 bits into
 * one double (21 + 32 bits: exact), so the typed array's native numeric sort does nearly all the work;
 * only positions that share those bits (a few per thousand) are then ordered by comparing whole hashes. A
 * comparator over all records cost about a second for a GiB of 4 KiB chunks.
 */
function sortByHash(records: Buffer, count: number): Uint32Array {
  const span = 0x1_0000_0000;
  const keys = new Float64Array(count);
  for (let i = 0; i < count; i++) keys[i] = (records.readUInt32BE(i * IDX_ENTRY) >>> 11) * span + i;
  keys.sort();
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = keys[i]! % span;
  const compare = (a: number, b: number): number =>
    records.compare(records, b * IDX_ENTRY, b * IDX_ENTRY + 32, a * IDX_ENTRY, a * IDX_ENTRY + 32);
  for (let start = 0; start < count; ) {
    let end = start + 1;
    const prefix = Math.floor(keys[start]! / span);
    while (end < count && Math.floor(keys[end]! / span) === prefix) end++;
    if (end - start > 1) order.subarray(start, end).sort(compare);
    start = end;
  }
  return order;
}

/** Four bytes as a big-endian unsigned number, without Buffer's argument checks (hot loops). */
/** Compares the 32-byte hashes at offsets a and b of view, four bytes at a time (-1, 0 or 1). */
function compareHashes(view: DataView, a: number, b: number): number {
  for (let k = 0; k < 32; k += 4) {
    const x = view.getUint32(a + k);
    const y = view.getUint32(b + k);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function word(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function grow(buffer: Buffer, needed: number): Buffer {
  if (needed <= buffer.length) return buffer;
  const grown = Buffer.allocUnsafe(Math.max(needed, buffer.length * 2));
  buffer.copy(grown);
  return grown;
}
