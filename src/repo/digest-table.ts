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

  /**
   * The value stored for the digest at bytes[at, at + 32), or -1. Taking an offset lets callers look up
   * digests inside a larger buffer (a pack index's entries) without a view object per digest.
   */
  get(bytes: Uint8Array, at = 0): number {
    const position = this.find(bytes, at);
    return position < 0 ? -1 : this.values[position]!;
  }

  /** Stores the digest at bytes[at, at + 32) -> value unless present; returns false when it was. */
  add(bytes: Uint8Array, value: number, at = 0): boolean {
    if (this.find(bytes, at) >= 0) return false;
    this.reserve(this.size + 1);
    this.digests.set(bytes.subarray(at, at + 32), 32 * this.size);
    this.prefixes[this.size] = prefixOf(bytes, at);
    this.values[this.size] = value;
    this.place(this.size);
    this.size++;
    return true;
  }

  /**
   * Makes room for `count` digests in all, so that loading many (every pack index of a repository)
   * grows and rehashes the arrays once instead of at every doubling.
   */
  reserve(count: number): void {
    if (2 * count > this.slots.length) this.rehash(powerOfTwoAtLeast(2 * count));
    if (count > this.values.length) {
      const length = Math.max(count, 2 * this.values.length);
      this.digests = grown(this.digests, 32 * length);
      this.prefixes = grown(this.prefixes, length);
      this.values = grown(this.values, length);
    }
  }

  private find(bytes: Uint8Array, at: number): number {
    const mask = this.slots.length - 1;
    const prefix = prefixOf(bytes, at);
    for (let slot = prefix & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return -1;
      if (this.prefixes[entry - 1] === prefix && this.sameRest(bytes, at, entry - 1)) return entry - 1;
    }
  }

  /** Bytes 4-31 of the digest equal those at position (in a plain loop: no allocation, no call). */
  private sameRest(bytes: Uint8Array, at: number, position: number): boolean {
    const digests = this.digests;
    const stored = 32 * position;
    for (let k = 4; k < 32; k++) if (digests[stored + k] !== bytes[at + k]) return false;
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

/**
 * Decodes a 64-digit hex SHA-256 into `into` (32 bytes) without allocating; false when it is not one
 * (wrong length or a non-hex digit).
 */
export function parseDigestHex(hex: string, into: Uint8Array): boolean {
  if (hex.length !== 64) return false;
  for (let i = 0; i < 32; i++) {
    const high = hexValue(hex.charCodeAt(2 * i));
    const low = hexValue(hex.charCodeAt(2 * i + 1));
    if ((high | low) < 0) return false;
    into[i] = (high << 4) | low;
  }
  return true;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  if (code >= 65 && code <= 70) return code - 55; // A-F
  return -1;
}

function prefixOf(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function powerOfTwoAtLeast(n: number): number {
  let power = 1;
  while (power < n) power *= 2;
  return power;
}

function grown<T extends Uint8Array | Uint32Array>(array: T, length: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(length);
  bigger.set(array);
  return bigger;
}
