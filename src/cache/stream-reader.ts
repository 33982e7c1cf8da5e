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
import type { ChunkSource } from "./chunk-source.js";

export async function readStream(
  objectsDir: string,
  transport: RepoTransport,
  source: ChunkSource,
  name: string,
  signal?: AbortSignal,
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
  await source.ensure(refs, signal);
  return Buffer.concat(await source.read(refs));
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
