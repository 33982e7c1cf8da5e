/**
 * Reading a repository's metadata streams (tree listings, block maps) through the cache: the stream
 * index object (objects/<hash>, verified against its name, kept in the cache) names the stream's chunks,
 * which come from the chunk source like any disk's chunks.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError, isCollectiveError } from "../errors.js";
import { paths, readLimits } from "../repo/format.js";
import { chunkListEntries, decodeObject, ObjectType, sha256Hex } from "../repo/meta-object.js";
import type { RepoTransport } from "../repo/transport.js";
import { keepInCache } from "./cache-dir.js";
import { type ChunkRef, chunkRef } from "./chunk-ref.js";
import type { ChunkSource, FetchContext } from "./chunk-source.js";

/** A metadata stream's index object: the list of the stream's chunks. */
export interface StreamIndex {
  readonly name: string;
  /** The object's body (32-byte chunk hashes), verified against its name. */
  readonly body: Buffer;
  /**
   * Settles once a fetched index is kept in the cache (at once for one read from there). Kept in the
   * background: the fsync took 10-15 ms in the way of a pull's block map (docs/benchmarks.md, tenth pass).
   */
  readonly kept: Promise<void>;
}

/**
 * A stream's index object: from the cache when it has a valid copy, else fetched, verified and kept
 * (see StreamIndex.kept). Needs only the manifest, so a pull reads it while the packs' indexes come.
 */
export async function readStreamIndex(
  objectsDir: string,
  transport: RepoTransport,
  context: FetchContext,
  name: string,
  signal?: AbortSignal,
): Promise<StreamIndex> {
  try {
    const cachedPath = join(objectsDir, name);
    const cached = await readFile(cachedPath).catch(() => undefined);
    if (cached !== undefined && sha256Hex(cached) === name)
      return { name, body: decodeObject(name, cached, ObjectType.streamIndex), kept: Promise.resolve() };
    const fetched = await transport.readFile(paths.object(name), {
      maxBytes: readLimits.object,
      ...(signal ? { signal } : {}),
    });
    const body = decodeObject(name, fetched, ObjectType.streamIndex);
    const kept = keepInCache(`stream index ${name}`, cachedPath, fetched);
    kept.catch(() => undefined); // awaited by readStream
    return { name, body, kept };
  } catch (error) {
    if (!isCollectiveError(error) || error.code !== "OBJECT_CORRUPT") throw error;
    throw new CollectiveError(
      "OBJECT_CORRUPT",
      `${error.message} (in ${context.repository} version ${context.version})`,
      {
        hint: "The repository is damaged or the server altered it; nothing was cached. Run `cui repo verify` on it.",
      },
    );
  }
}

/** The stream `index` lists, assembled from its chunks (fetched, verified and cached when missing). */
export async function readStream(
  source: ChunkSource,
  index: StreamIndex,
  signal?: AbortSignal,
  /** Where the stream is assembled (at least `length` bytes; the result is a view of it), if not new memory. */
  allocate?: (length: number) => Buffer,
  /**
   * Called as the stream's leading bytes are complete, with how many (they will not change): while its
   * chunks arrive, and with the whole length at the end. A caller can use them before the rest arrives.
   */
  onAssembled?: (bytes: number) => void,
): Promise<Buffer> {
  const hashes = chunkListEntries(index.name, index.body);
  const refs = hashes.map((chunkHash) => source.locate(chunkHash));
  // The stream is assembled in place: chunks fetched now are copied from their frames as they arrive
  // (with O_DIRECT the cache's copy would be read back from the disk), the rest read from the cache.
  const starts: number[] = [];
  let total = 0;
  const wanted = new Map<ChunkRef, number[]>();
  refs.forEach((ref, k) => {
    starts.push(total);
    total += source.rawLength(ref);
    const list = wanted.get(ref);
    if (list === undefined) wanted.set(ref, [k]);
    else list.push(k);
  });
  const stream = (allocate?.(total) ?? Buffer.allocUnsafe(total)).subarray(0, total);
  const filled = new Uint8Array(refs.length);
  let leading = 0; // chunks from the start that are in place
  await source.ensure(
    refs,
    signal,
    async (pack, first, raws) => {
      const packIndex = source.packIndex(pack);
      raws.forEach((raw, i) => {
        for (const entry of packIndex.entriesOfFrame(first + i)) {
          const offset = packIndex.offsetInFrame(entry);
          for (const k of wanted.get(chunkRef(pack, entry)) ?? []) {
            raw.copy(stream, starts[k]!, offset, offset + packIndex.rawLength(entry));
            filled[k] = 1;
          }
        }
      });
      if (onAssembled === undefined || filled[leading] !== 1) return;
      while (leading < refs.length && filled[leading] === 1) leading++;
      const bytes = leading < refs.length ? starts[leading]! : total;
      // Once the fetch has handed its next frames to the verifier thread (it does so when this sink
      // returns): the caller's work then fills the wait for them instead of holding them up.
      await new Promise((resolve) => setImmediate(resolve));
      onAssembled(bytes);
    },
    false, // the disks' fetch, which follows at once, commits these frames with its own
  );
  const rest = refs.flatMap((_, k) => (filled[k] === 1 ? [] : [k]));
  const found = await source.read(rest.map((k) => refs[k]!));
  rest.forEach((k, i) => {
    found[i]!.copy(stream, starts[k]!);
  });
  onAssembled?.(total);
  await index.kept;
  return stream;
}
