/** Stores a file's content as content-defined chunks; returns the chunk hashes and the byte count. */
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
