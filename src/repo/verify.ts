/**
 * `cui repo verify`: checks every version's signature and files, every metadata stream, and every chunk
 * of every pack a version uses (decompressed and hashed). Reports each problem and goes on.
 */
import { CollectiveError } from "../errors.js";
import { decompressFrame } from "./compression.js";
import { type Manifest, paths } from "./format.js";
import type { PackIndex } from "./pack-index.js";
import { badChunk, isHole, type RepoReader } from "./repo-reader.js";

export interface Problem {
  readonly repository: string;
  readonly version?: number;
  readonly pack?: string;
  readonly chunk?: string;
  readonly message: string;
}

export interface VerifyReport {
  readonly repository: string;
  readonly versions: number;
  readonly packs: number;
  readonly chunks: number;
  readonly problems: Problem[];
}

const SPAN = 8 << 20;

export async function verifyRepository(
  reader: RepoReader,
  options: { pinnedKey?: string } = {},
): Promise<VerifyReport> {
  const problems: Problem[] = [];
  const repository = reader.url;
  const note = (error: unknown, where: Omit<Problem, "repository" | "message">): void => {
    if (!(error instanceof CollectiveError)) throw error;
    problems.push({ repository, ...where, message: error.message });
  };
  await reader.descriptor();
  const latest = await reader.latestVersion();
  const packsChecked = new Map<string, Set<string>>();
  let chunks = 0;
  for (let version = 1; version <= latest; version++) {
    let manifest: Manifest;
    try {
      manifest = await reader.manifest(version, options.pinnedKey);
    } catch (error) {
      note(error, { version });
      continue;
    }
    for (const file of manifest.files) {
      await reader.versionFile(manifest, file.path).catch((error) => note(error, { version }));
    }
    for (const id of manifest.packs) {
      if (packsChecked.has(id)) continue;
      try {
        const index = await reader.packIndex(id);
        const bad = await verifyPack(reader, index, (chunk, message) =>
          problems.push({ repository, version, pack: id, chunk, message }),
        );
        packsChecked.set(id, bad);
        chunks += index.count;
      } catch (error) {
        note(error, { version, pack: id });
        packsChecked.set(id, new Set());
      }
    }
    // Every reference must resolve to a chunk of a listed pack (the chunks themselves were checked above).
    for (const disk of manifest.disks) {
      try {
        const refs: Buffer[] = [];
        if (disk.shape === "tree") {
          for (const entry of await reader.treeListing(manifest, disk.listing))
            for (const h of entry.chunks ?? []) refs.push(Buffer.from(h, "hex"));
        } else {
          for (const h of await reader.blockMap(manifest, disk.blocks)) if (!isHole(h)) refs.push(h);
        }
        const seen = new Set<string>();
        for (const ref of refs) {
          const key = ref.toString("hex");
          if (seen.has(key)) continue;
          seen.add(key);
          try {
            await reader.locate(manifest, ref);
          } catch (error) {
            note(error, { version, chunk: key });
          }
        }
      } catch (error) {
        note(error, { version });
      }
    }
  }
  return { repository, versions: latest, packs: packsChecked.size, chunks, problems };
}

/** Reads a whole pack in large spans of frames and checks every chunk; returns the hashes of bad ones. */
async function verifyPack(
  reader: RepoReader,
  index: PackIndex,
  report: (chunk: string, message: string) => void,
): Promise<Set<string>> {
  const bad = new Set<string>();
  const fail = (entries: Iterable<number>, message: string): void => {
    for (const entry of entries) {
      const key = index.hashAt(entry).toString("hex");
      bad.add(key);
      report(key, message);
    }
  };
  let frame = 0;
  while (frame < index.frameCount) {
    // Frames lie back to back (checked when the index was parsed): a span is a run of whole frames.
    const first = frame;
    const start = index.frameAt(first).offset;
    let end = start;
    while (frame < index.frameCount && (frame === first || end - start < SPAN)) {
      end += index.frameStoredLength(frame);
      frame++;
    }
    let span: Uint8Array;
    try {
      [span] = (await reader.transport.readRanges(paths.pack(index.id), [
        { offset: start, length: end - start },
      ])) as [Uint8Array];
    } catch (error) {
      for (let f = first; f < frame; f++)
        fail(index.entriesOfFrame(f), error instanceof Error ? error.message : String(error));
      continue;
    }
    for (let f = first; f < frame; f++) {
      const { offset, storedLength, rawLength } = index.frameAt(f);
      let raw: Buffer;
      try {
        raw = decompressFrame(
          span.subarray(offset - start, offset - start + storedLength),
          rawLength,
          index.compression,
        );
      } catch (error) {
        fail(
          index.entriesOfFrame(f),
          `${reader.url}: pack ${index.id} frame ${f} is corrupt: ${(error as Error).message}`,
        );
        continue;
      }
      for (const entry of index.entriesOfFrame(f)) {
        const key = badChunk(index, entry, raw);
        if (key === undefined) continue;
        bad.add(key);
        report(key, `${reader.url}: chunk ${key} (pack ${index.id}) does not match its hash`);
      }
    }
  }
  return bad;
}
