/**
 * A hash table from 32-byte digests (SHA-256 chunk hashes) to small numbers, in typed arrays: open
 * addressing, linear probing, the digest's first four bytes as the hash (they are uniformly random
 * already). A publish looks up every chunk of a disk here; a Map keyed by strings cost a string per
 * chunk and tens of MiB of heap per GiB of image.
 */
export class DigestTable {
  /** Digests, 32 bytes each, in insertion order. */
  private digests = new Uint8Array(32 * 1024);
  /** The first four bytes of each digest as a number: most probes are decided by this alone. */
  private prefixes = new Uint32Array(1024);
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
    if (this.size === this.values.length) {
      this.digests = grown(this.digests, 2 * this.digests.length);
      this.prefixes = grown(this.prefixes, 2 * this.prefixes.length);
      this.values = grown(this.values, 2 * this.values.length);
    }
    this.digests.set(digest.subarray(0, 32), 32 * this.size);
    this.prefixes[this.size] = prefixOf(digest);
    this.values[this.size] = value;
    this.place(this.size);
    this.size++;
    return true;
  }

  private find(digest: Uint8Array): number {
    const mask = this.slots.length - 1;
    const prefix = prefixOf(digest);
    for (let slot = prefix & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return -1;
      if (this.prefixes[entry - 1] === prefix && this.sameRest(digest, entry - 1)) return entry - 1;
    }
  }

  /** Bytes 4-31 of digest equal those at position (in a plain loop: no allocation, no call). */
  private sameRest(digest: Uint8Array, position: number): boolean {
    const digests = this.digests;
    const at = 32 * position;
    for (let k = 4; k < 32; k++) if (digests[at + k] !== digest[k]) return false;
    return true;
  }

  private place(position: number): void {
    const mask = this.slots.length - 1;
    let slot = this.prefixes[position]! & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = position + 1;
  }

  private rehash(slotCount: number): void {
    this.slots = new Uint32Array(slotCount);
    for (let position = 0; position < this.size; position++) this.place(position);
  }
}

function prefixOf(digest: Uint8Array): number {
  return ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0;
}

function grown<T extends Uint8Array | Uint32Array>(array: T, length: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(length);
  bigger.set(array);
  return bigger;
}
