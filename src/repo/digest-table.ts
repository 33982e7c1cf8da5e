/**
 * A hash table from 32-byte digests (SHA-256 chunk hashes) to small numbers, in typed arrays: open
 * addressing, linear probing, the digest's first four bytes as the hash (they are uniformly random
 * already). A publish looks up every chunk of a disk here; a Map keyed by strings cost a string per
 * chunk and tens of MiB of heap per GiB of image.
 */
export class DigestTable {
  /** Digests, 32 bytes each, in insertion order. */
  private digests = Buffer.allocUnsafe(32 * 1024);
  private values = new Uint32Array(1024);
  /** Slot -> 1 + position in `digests`; 0 = empty. Kept at most half full. */
  private slots = new Uint32Array(4096);
  size = 0;

  /** The value stored for digest, or -1. */
  get(digest: Uint8Array): number {
    const position = this.find(digest);
    return position < 0 ? -1 : this.values[position]!;
  }

  /** Stores digest -> value unless digest is present; returns false when it was. */
  add(digest: Uint8Array, value: number): boolean {
    if (this.find(digest) >= 0) return false;
    if (2 * (this.size + 1) > this.slots.length) this.rehash(this.slots.length * 2);
    if (32 * (this.size + 1) > this.digests.length) {
      const grown = Buffer.allocUnsafe(this.digests.length * 2);
      this.digests.copy(grown);
      this.digests = grown;
      const values = new Uint32Array(this.values.length * 2);
      values.set(this.values);
      this.values = values;
    }
    this.digests.set(digest.subarray(0, 32), 32 * this.size);
    this.values[this.size] = value;
    this.place(this.size);
    this.size++;
    return true;
  }

  private find(digest: Uint8Array): number {
    const key = Buffer.from(digest.buffer, digest.byteOffset, 32);
    const mask = this.slots.length - 1;
    const first = key.readUInt32BE(0);
    for (let slot = first & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return -1;
      const at = 32 * (entry - 1);
      if (this.digests.readUInt32BE(at) === first && this.digests.compare(key, 0, 32, at, at + 32) === 0)
        return entry - 1;
    }
  }

  private place(position: number): void {
    const mask = this.slots.length - 1;
    let slot = this.digests.readUInt32BE(32 * position) & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = position + 1;
  }

  private rehash(slotCount: number): void {
    this.slots = new Uint32Array(slotCount);
    for (let position = 0; position < this.size; position++) this.place(position);
  }
}
