/**
 * Direct I/O (O_DIRECT) for the host cache's frame files and for block images being materialized.
 *
 * Why: every page-cache page a write creates costs the kernel time, and on virtual machines whose memory
 * the hypervisor backs lazily (this one: writing 1 GiB into a new file takes 1.9-2.3 s of kernel time,
 * 0.15 s when the memory was freed a moment before) that is most of a fetch. A fetch writes each byte
 * into the cache and again into the destination; with O_DIRECT both go to the disk without touching the
 * page cache (1 GiB in 0.4-1.1 s here, almost no CPU).
 *
 * O_DIRECT needs the buffer's address, the file offset and the length aligned to the device's block.
 * Node cannot ask for an aligned Buffer, but a WebAssembly.Memory is allocated on a 64 KiB boundary, so
 * aligned buffers are views of one. They are shared memory (a shared WebAssembly.Memory: a
 * SharedArrayBuffer), so the thread that verifies fetched frames (frame-verifier.ts) decodes into them
 * where they lie. Filesystems without O_DIRECT (tmpfs on older kernels, some FUSE
 * filesystems) get a buffered file instead, and the caller learns which it got (OpenedFile.direct).
 */
import { constants, writevSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { writeAll } from "../repo/fs-atomic.js";

/** The alignment used for offsets, lengths and buffers: the largest logical block of common devices. */
export const directAlign = 4096;

export function alignUp(n: number): number {
  return Math.ceil(n / directAlign) * directAlign;
}

export function alignDown(n: number): number {
  return Math.floor(n / directAlign) * directAlign;
}

const wasmPage = 65536;
const mebibyte = 1024 * 1024;

// The one part of WebAssembly used here (the project's TypeScript libraries do not declare it).
declare const WebAssembly: {
  Memory: new (descriptor: {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }) => {
    readonly buffer: SharedArrayBuffer;
  };
};

/** The memory behind every aligned buffer made here, to recognise views of them (alignedView). */
const alignedMemories = new WeakSet<ArrayBufferLike>();

/** A Buffer of `bytes` (rounded up to 64 KiB) whose address is aligned for O_DIRECT, in shared memory. */
export function alignedBuffer(bytes: number): Buffer {
  const pages = Math.max(1, Math.ceil(bytes / wasmPage));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  alignedMemories.add(memory.buffer);
  return Buffer.from(memory.buffer);
}

/**
 * When `parts` lie back to back in one aligned buffer, each at `offsets[k]` bytes after the first (offsets
 * undefined: right after each other), the view from the first part's start over `length` bytes; it is
 * then written with O_DIRECT as it is, without being gathered into a staging buffer first. Undefined
 * when they do not, or when that view would not be aligned or would run past the buffer.
 */
export function alignedView(
  parts: readonly Uint8Array[],
  length: number,
  offsets?: (k: number) => number,
): Uint8Array | undefined {
  const head = parts[0];
  if (head === undefined) return undefined;
  let expected = head.byteOffset;
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!;
    const at = offsets === undefined ? expected : head.byteOffset + offsets(k);
    if (part.buffer !== head.buffer || part.byteOffset !== at) return undefined;
    expected = at + part.length;
  }
  return alignedSpan(head.buffer, head.byteOffset, length);
}

/**
 * The view of `length` bytes from `byteOffset` of `memory` when memory is an aligned buffer's and the
 * view can be written with O_DIRECT as it is (aligned start and length, inside the memory), else undefined.
 */
export function alignedSpan(
  memory: ArrayBufferLike,
  byteOffset: number,
  length: number,
): Uint8Array | undefined {
  if (!alignedMemories.has(memory)) return undefined;
  if (byteOffset % directAlign !== 0 || length % directAlign !== 0) return undefined;
  if (byteOffset + length > memory.byteLength) return undefined;
  return new Uint8Array(memory, byteOffset, length);
}

/** Free buffers an AlignedPool keeps (see release()). */
export const pooledBuffers = 16;

/**
 * Aligned buffers to borrow and give back: a fetch needs a few at a time, and each WebAssembly.Memory
 * reserves address space (and is freed only by garbage collection), so they are reused, not made per call.
 */
export class AlignedPool {
  private readonly free: Buffer[] = [];

  /** A buffer of at least `bytes` (the smallest free one that fits); give it back with release(). */
  acquire(bytes: number): Buffer {
    let index = -1;
    for (let i = 0; i < this.free.length; i++)
      if (this.free[i]!.length >= bytes && (index < 0 || this.free[i]!.length < this.free[index]!.length))
        index = i;
    if (index >= 0) return this.free.splice(index, 1)[0]!;
    // Powers of two from 1 MiB: few distinct sizes, so buffers fit later requests. Pages a request does
    // not reach are never touched, so they cost address space, not memory.
    let size = mebibyte;
    while (size < bytes) size *= 2;
    return alignedBuffer(size);
  }

  release(buffer: Buffer): void {
    // Keep the pool small: a dozen buffers covers the requests a fetch has in flight (four batches of
    // downloads and two decoding buffers each, staging for the cache, reads for the destination). When
    // full, the smallest goes: a big buffer serves every request, a small one only some.
    this.free.push(buffer);
    if (this.free.length > pooledBuffers) {
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++)
        if (this.free[i]!.length < this.free[smallest]!.length) smallest = i;
      this.free.splice(smallest, 1);
    }
  }

  async with<T>(bytes: number, use: (buffer: Buffer) => Promise<T>): Promise<T> {
    const buffer = this.acquire(bytes);
    try {
      return await use(buffer);
    } finally {
      this.release(buffer);
    }
  }
}

/** The process's pool (buffers are only scratch space between a read or write and a copy). */
export const alignedPool = new AlignedPool();

export interface OpenedFile {
  readonly handle: FileHandle;
  /** Whether the file was opened with O_DIRECT (else the filesystem refused it: buffered). */
  readonly direct: boolean;
}

/**
 * Opens with O_DIRECT when `wanted` and the filesystem allows it, else without. `COLLECTIVE_DIRECT_IO=0`
 * turns it off (for comparing, or for a filesystem that accepts O_DIRECT at open but fails the writes).
 */
export async function openMaybeDirect(
  path: string,
  flags: number,
  mode: number,
  wanted = true,
): Promise<OpenedFile> {
  if (wanted && directIoEnabled()) {
    try {
      return { handle: await open(path, flags | constants.O_DIRECT, mode), direct: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
    }
  }
  return { handle: await open(path, flags, mode), direct: false };
}

export function directIoEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.COLLECTIVE_DIRECT_IO !== "0";
}

/** Writes all of `bytes` at `position` (a write may be short: fs-atomic.ts writeAll). */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  await writeAll(handle, bytes, 0, bytes.length, position);
}

/** Reads up to `length` bytes at `position` into `into`; returns how many there were before the end of the file. */
export async function readFully(
  handle: FileHandle,
  into: Uint8Array,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(into, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes all of `parts`, back to back from `position` (writev may write less than asked). */
export async function writevFully(
  handle: FileHandle,
  parts: readonly Uint8Array[],
  position: number,
): Promise<void> {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  for (let done = 0; done < total; ) {
    const { bytesWritten } = await handle.writev(skipBytes(parts, done), position + done);
    done += bytesWritten;
  }
}

/**
 * writevFully with synchronous calls (a small file's write, materialize-tree.ts): a short write (a disk
 * filling up) is continued, and the next call then fails with ENOSPC. Returns the bytes written.
 */
export function writevFullySync(fd: number, parts: readonly Uint8Array[], position: number): number {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  let done = 0;
  while (done < total) done += writevSync(fd, skipBytes(parts, done), position + done);
  return done;
}

/** The arrays after the first `skip` bytes of their concatenation (views, no copy). */
function skipBytes(parts: readonly Uint8Array[], skip: number): Uint8Array[] {
  if (skip === 0) return parts as Uint8Array[];
  const out: Uint8Array[] = [];
  for (const part of parts) {
    if (skip >= part.length) {
      skip -= part.length;
      continue;
    }
    out.push(skip > 0 ? part.subarray(skip) : part);
    skip = 0;
  }
  return out;
}
