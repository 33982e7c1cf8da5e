/**
 * Reading a repository's metadata streams (tree listings, block maps) through the cache: the stream
 * index object (objects/<hash>, verified against its name, kept in the cache) names the stream's chunks,
 * which come from the chunk source like any disk's chunks.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError, isCollectiveError } from "../errors.js";
import { paths, readLimits } from "../repo/format.js";
import { writeFileAtomic } from "../repo/fs-atomic.js";
import { chunkListEntries, decodeObject, ObjectType, sha256Hex } from "../repo/meta-object.js";
import type { RepoTransport } from "../repo/transport.js";
import { type ChunkRef, chunkRef } from "./chunk-ref.js";
import type { ChunkSource } from "./chunk-source.js";

export async function readStream(
  objectsDir: string,
  transport: RepoTransport,
  source: ChunkSource,
  name: string,
  signal?: AbortSignal,
  /** Where the stream is assembled (at least `length` bytes; the result is a view of it), if not new memory. */
  allocate?: (length: number) => Buffer,
): Promise<Buffer> {
  let body: Buffer;
  try {
    body = await readStreamIndex(objectsDir, transport, name, signal);
  } catch (error) {
    if (!isCollectiveError(error) || error.code !== "OBJECT_CORRUPT") throw error;
    const { repository, version } = source.context;
    throw new CollectiveError("OBJECT_CORRUPT", `${error.message} (in ${repository} version ${version})`, {
      hint: "The repository is damaged or the server altered it; nothing was cached. Run `cui repo verify` on it.",
    });
  }
  const hashes = chunkListEntries(name, body);
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
  await source.ensure(
    refs,
    signal,
    async (pack, first, raws) => {
      const index = source.packIndex(pack);
      raws.forEach((raw, i) => {
        for (const entry of index.entriesOfFrame(first + i)) {
          const offset = index.offsetInFrame(entry);
          for (const k of wanted.get(chunkRef(pack, entry)) ?? []) {
            raw.copy(stream, starts[k]!, offset, offset + index.rawLength(entry));
            filled[k] = 1;
          }
        }
      });
    },
    false, // the disks' fetch, which follows at once, commits these frames with its own
  );
  const rest = refs.flatMap((_, k) => (filled[k] === 1 ? [] : [k]));
  const found = await source.read(rest.map((k) => refs[k]!));
  rest.forEach((k, i) => {
    found[i]!.copy(stream, starts[k]!);
  });
  return stream;
}

/** The stream index's body: from the cache when it has a valid copy, else fetched, verified and kept. */
async function readStreamIndex(
  objectsDir: string,
  transport: RepoTransport,
  name: string,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  const cachedPath = join(objectsDir, name);
  const cached = await readFile(cachedPath).catch(() => undefined);
  if (cached !== undefined && sha256Hex(cached) === name)
    return decodeObject(name, cached, ObjectType.streamIndex);
  const fetched = await transport.readFile(paths.object(name), {
    maxBytes: readLimits.object,
    ...(signal ? { signal } : {}),
  });
  const body = decodeObject(name, fetched, ObjectType.streamIndex);
  await writeFileAtomic(cachedPath, fetched);
  return body;
}
