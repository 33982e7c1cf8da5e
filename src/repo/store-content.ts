/** Stores a file's content as content-defined chunks; returns the chunk hashes and the byte count. */
import { closeSync, openSync, readSync } from "node:fs";
import type { ChunkStore } from "./chunk-store.js";
import { chunkBuffer, chunkStream, FastCdc, treeChunking } from "./fastcdc.js";

const treeCdc = new FastCdc(treeChunking);

export interface StoredContent {
  readonly chunks: string[];
  readonly size: number;
}

export async function storeContent(
  store: ChunkStore,
  source: AsyncIterable<Uint8Array>,
): Promise<StoredContent> {
  const chunks: string[] = [];
  let size = 0;
  for await (const chunk of chunkStream(source, treeCdc)) {
    chunks.push(await store.put(chunk));
    size += chunk.length;
  }
  return { chunks, size };
}

export async function storeBuffer(store: ChunkStore, data: Buffer): Promise<StoredContent> {
  const chunks: string[] = [];
  for (const chunk of chunkBuffer(data, treeCdc)) chunks.push(await store.put(chunk));
  return { chunks, size: data.length };
}

/**
 * The window a large file is read through: the bytes not yet cut (less than one maximum chunk) are moved
 * to its front before the next read. One buffer for every file: the store copies what it keeps, and files
 * are stored one at a time.
 */
const fileWindow = Buffer.allocUnsafe(2 << 20);

/**
 * Stores a file of any size read with synchronous reads through fileWindow. Cuts the same chunks as
 * storeContent over a stream of the file (a chunk is cut only with a maximum chunk's bytes in view, or at
 * the end). For a tree's large files this replaced a read stream: each 1 MiB piece waited for libuv's
 * thread pool and was copied twice more (into the stream's buffer, then to join it with what was left).
 */
export async function storeFile(store: ChunkStore, path: string): Promise<StoredContent> {
  const max = treeCdc.params.maxSize;
  const chunks: string[] = [];
  let size = 0;
  const fd = openSync(path, "r");
  try {
    let filled = 0;
    let ended = false;
    while (!ended || filled > 0) {
      if (!ended) {
        const read = readSync(fd, fileWindow, filled, fileWindow.length - filled, null);
        if (read === 0) ended = true;
        filled += read;
      }
      let at = 0;
      while (filled - at >= max || (ended && at < filled)) {
        const length = treeCdc.cut(fileWindow, at, filled);
        chunks.push(await store.put(fileWindow.subarray(at, at + length)));
        at += length;
      }
      size += at;
      fileWindow.copyWithin(0, at, filled);
      filled -= at;
    }
  } finally {
    closeSync(fd);
  }
  return { chunks, size };
}
