/**
 * `cui repo verify`: checks every version's signature and files, every metadata stream, and every chunk
 * of every pack a version uses (decompressed and hashed). Reports each problem and goes on.
 */
import { CollectiveError } from "../errors.js";
import { type Manifest, paths } from "./format.js";
import type { PackIndex } from "./pack-index.js";
import { isHole, type RepoReader } from "./repo-reader.js";

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

/** Reads a whole pack in large spans and checks every chunk; returns the hashes of bad ones. */
async function verifyPack(
  reader: RepoReader,
  index: PackIndex,
  report: (chunk: string, message: string) => void,
): Promise<Set<string>> {
  const bad = new Set<string>();
  const entries = [...index.entries()].sort((a, b) => a.offset - b.offset);
  let at = 0;
  while (at < entries.length) {
    const group = [entries[at]!];
    let end = entries[at]!.offset + entries[at]!.storedLength;
    at++;
    while (at < entries.length && end - group[0]!.offset < SPAN) {
      group.push(entries[at]!);
      end = Math.max(end, entries[at]!.offset + entries[at]!.storedLength);
      at++;
    }
    const start = group[0]!.offset;
    let span: Uint8Array;
    try {
      [span] = (await reader.transport.readRanges(paths.pack(index.id), [
        { offset: start, length: end - start },
      ])) as [Uint8Array];
    } catch (error) {
      for (const entry of group) {
        const key = Buffer.from(entry.hash).toString("hex");
        bad.add(key);
        report(key, error instanceof Error ? error.message : String(error));
      }
      continue;
    }
    for (const entry of group) {
      const stored = span.subarray(entry.offset - start, entry.offset - start + entry.storedLength);
      try {
        reader.verifyChunk(undefined, entry.hash, { pack: index, entry }, stored);
      } catch (error) {
        const key = Buffer.from(entry.hash).toString("hex");
        bad.add(key);
        report(key, error instanceof Error ? error.message : String(error));
      }
    }
  }
  return bad;
}
