/**
 * A chunk of a version as one number: the pack (its position in the version's pack list) and the
 * chunk's position in that pack's index, `pack * 2^32 + entry`. A 1 GiB image has 262,144 chunks; as
 * numbers in arrays they cost 8 bytes each, where an object per chunk cost several times that in heap
 * and garbage-collection work.
 */
export type ChunkRef = number;

const ENTRY_SPAN = 0x1_0000_0000;

export function chunkRef(pack: number, entry: number): ChunkRef {
  return pack * ENTRY_SPAN + entry;
}

export function packOf(ref: ChunkRef): number {
  return Math.floor(ref / ENTRY_SPAN);
}

export function entryOf(ref: ChunkRef): number {
  return ref % ENTRY_SPAN;
}
