/**
 * Pack indexes (packs/<id>.idx): a 16-byte header and 48-byte entries sorted by chunk hash, so a reader
 * finds a chunk by binary search in the fetched bytes without parsing them into objects.
 */
import { CollectiveError } from "../errors.js";

export const IDX_MAGIC = "CIDX";
export const PACK_MAGIC = "CPAK";
export const IDX_HEADER = 16;
export const IDX_ENTRY = 48;
export const PACK_HEADER = 16;

export interface PackEntry {
  /** SHA-256 of the raw chunk. */
  readonly hash: Uint8Array;
  readonly offset: number;
  readonly storedLength: number;
  readonly rawLength: number;
}

export function packHeader(): Buffer {
  const header = Buffer.alloc(PACK_HEADER);
  header.write(PACK_MAGIC, 0, "latin1");
  header.writeUInt16BE(1, 4);
  return header;
}

/** Serialises entries (any order; sorted here) into an index file. */
export function encodePackIndex(entries: PackEntry[], compression: number): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(a.hash, b.hash));
  const out = Buffer.alloc(IDX_HEADER + IDX_ENTRY * sorted.length);
  out.write(IDX_MAGIC, 0, "latin1");
  out.writeUInt16BE(1, 4);
  out.writeUInt8(compression, 6);
  out.writeUInt32BE(sorted.length, 8);
  let at = IDX_HEADER;
  let previous: Uint8Array | undefined;
  for (const entry of sorted) {
    if (previous !== undefined && Buffer.compare(previous, entry.hash) === 0) continue;
    out.set(entry.hash, at);
    out.writeBigUInt64BE(BigInt(entry.offset), at + 32);
    out.writeUInt32BE(entry.storedLength, at + 40);
    out.writeUInt32BE(entry.rawLength, at + 44);
    at += IDX_ENTRY;
    previous = entry.hash;
  }
  out.writeUInt32BE((at - IDX_HEADER) / IDX_ENTRY, 8);
  return out.subarray(0, at);
}

/** A parsed (validated) index: lookups read the buffer directly. */
export class PackIndex {
  readonly count: number;
  readonly compression: number;

  constructor(
    readonly id: string,
    private readonly bytes: Buffer,
  ) {
    if (bytes.length < IDX_HEADER || bytes.toString("latin1", 0, 4) !== IDX_MAGIC) {
      throw new CollectiveError("PACK_INDEX_CORRUPT", `pack index ${id} does not start with ${IDX_MAGIC}`);
    }
    if (bytes.readUInt16BE(4) !== 1) {
      throw new CollectiveError(
        "PACK_INDEX_CORRUPT",
        `pack index ${id} has unknown format ${bytes.readUInt16BE(4)}`,
      );
    }
    this.compression = bytes.readUInt8(6);
    this.count = bytes.readUInt32BE(8);
    if (bytes.length !== IDX_HEADER + this.count * IDX_ENTRY) {
      throw new CollectiveError(
        "PACK_INDEX_CORRUPT",
        `pack index ${id} is ${bytes.length} bytes, expected ${IDX_HEADER + this.count * IDX_ENTRY}`,
      );
    }
  }

  hashAt(i: number): Buffer {
    const at = IDX_HEADER + i * IDX_ENTRY;
    return this.bytes.subarray(at, at + 32);
  }

  entryAt(i: number): PackEntry {
    const at = IDX_HEADER + i * IDX_ENTRY;
    return {
      hash: this.bytes.subarray(at, at + 32),
      offset: Number(this.bytes.readBigUInt64BE(at + 32)),
      storedLength: this.bytes.readUInt32BE(at + 40),
      rawLength: this.bytes.readUInt32BE(at + 44),
    };
  }

  find(hash: Uint8Array): PackEntry | undefined {
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const order = Buffer.compare(this.hashAt(mid), hash);
      if (order === 0) return this.entryAt(mid);
      if (order < 0) low = mid + 1;
      else high = mid - 1;
    }
    return undefined;
  }

  *entries(): Generator<PackEntry> {
    for (let i = 0; i < this.count; i++) yield this.entryAt(i);
  }
}

/**
 * Collects index entries for a pack being written, as 48-byte records in one growing buffer (a JS object
 * per chunk would cost several times as much memory for a pack of a million chunks).
 */
export class IndexBuilder {
  private records = Buffer.allocUnsafe(IDX_ENTRY * 4096);
  count = 0;

  add(hash: Uint8Array, offset: number, storedLength: number, rawLength: number): void {
    if ((this.count + 1) * IDX_ENTRY > this.records.length) {
      const grown = Buffer.allocUnsafe(this.records.length * 2);
      this.records.copy(grown, 0, 0, this.count * IDX_ENTRY);
      this.records = grown;
    }
    const at = this.count * IDX_ENTRY;
    this.records.set(hash, at);
    this.records.writeBigUInt64BE(BigInt(offset), at + 32);
    this.records.writeUInt32BE(storedLength, at + 40);
    this.records.writeUInt32BE(rawLength, at + 44);
    this.count++;
  }

  encode(compression: number): Buffer {
    const hashOf = (i: number) => this.records.subarray(i * IDX_ENTRY, i * IDX_ENTRY + 32);
    const order = Array.from({ length: this.count }, (_, i) => i).sort((a, b) =>
      Buffer.compare(hashOf(a), hashOf(b)),
    );
    const out = Buffer.alloc(IDX_HEADER + IDX_ENTRY * this.count);
    out.write(IDX_MAGIC, 0, "latin1");
    out.writeUInt16BE(1, 4);
    out.writeUInt8(compression, 6);
    let at = IDX_HEADER;
    let previous = -1;
    for (const i of order) {
      if (previous >= 0 && Buffer.compare(hashOf(previous), hashOf(i)) === 0) continue;
      this.records.copy(out, at, i * IDX_ENTRY, (i + 1) * IDX_ENTRY);
      at += IDX_ENTRY;
      previous = i;
    }
    out.writeUInt32BE((at - IDX_HEADER) / IDX_ENTRY, 8);
    return out.subarray(0, at);
  }
}
