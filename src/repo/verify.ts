/**
 * `cui repo verify`: checks every version's signature and files, every metadata stream, and every chunk
 * of every pack a version uses (decompressed and hashed). Reports each problem and goes on. Then, for a
 * repository in a local directory, lists the files of packs/ and objects/ that no version refers to
 * (unreferencedFiles): a warning, not a problem.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { decompressFrame } from "./compression.js";
import { FileTransport } from "./file-transport.js";
import { type Manifest, paths } from "./format.js";
import type { PackIndex } from "./pack-index.js";
import { withPublishLock } from "./publish-lock.js";
import { localVersions } from "./repo-layout.js";
import { badChunk, isHole, type RepoReader } from "./repo-reader.js";

export interface Problem {
  readonly repository: string;
  readonly version?: number;
  readonly pack?: string;
  readonly chunk?: string;
  readonly message: string;
}

/** A file of packs/ or objects/ that no version refers to. */
export interface UnreferencedFile {
  /** Its path in the repository: packs/<id>.pack, packs/<id>.idx, objects/<hash> (or any other name). */
  readonly path: string;
  /** Its size in bytes (lstat). */
  readonly size: number;
}

/** What is in packs/ and objects/ that no version refers to: waste, never a problem. */
export interface UnreferencedReport {
  /** Why they were not listed (a repository over HTTP, an unreadable version, ...); absent when they were. */
  readonly skipped?: string;
  /** Sorted by path; empty when skipped. */
  readonly files: UnreferencedFile[];
  /** Their total size in bytes. */
  readonly bytes: number;
}

export interface VerifyReport {
  readonly repository: string;
  readonly versions: number;
  readonly packs: number;
  readonly chunks: number;
  readonly problems: Problem[];
  readonly unreferenced: UnreferencedReport;
  /** No problems; unreferenced files do not count. */
  readonly ok: boolean;
}

export interface VerifyOptions {
  pinnedKey?: string;
  /** How long to wait for the publish lock before listing packs/ and objects/ (default 60 s). */
  lockTimeoutMs?: number;
}

const SPAN = 8 << 20;

export async function verifyRepository(
  reader: RepoReader,
  options: VerifyOptions = {},
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
  /** What the versions read refer to (packs/..., objects/...), and the versions whose manifests failed. */
  const referenced = new Set<string>();
  const unread: number[] = [];
  let chunks = 0;
  for (let version = 1; version <= latest; version++) {
    let manifest: Manifest;
    try {
      manifest = await reader.manifest(version, options.pinnedKey);
    } catch (error) {
      note(error, { version });
      unread.push(version);
      continue;
    }
    for (const path of referencedPaths(manifest)) referenced.add(path);
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
  const unreferenced = await unreferencedFiles(reader, options, latest, referenced, unread);
  return {
    repository,
    versions: latest,
    packs: packsChecked.size,
    chunks,
    problems,
    unreferenced,
    ok: problems.length === 0,
  };
}

/** The files of packs/ and objects/ a manifest refers to, as paths in the repository. */
function referencedPaths(manifest: Manifest): string[] {
  const found: string[] = [];
  for (const id of manifest.packs) found.push(paths.pack(id), paths.packIndex(id));
  for (const disk of manifest.disks)
    found.push(paths.object(disk.shape === "tree" ? disk.listing : disk.blocks));
  return found;
}

/**
 * Lists the files of packs/ and objects/ that no version refers to, for a repository in a local
 * directory. A publish renames its new packs and objects into packs/ and objects/ under the publish lock,
 * just before its version's directory appears (or removes them again when it fails): so they are listed
 * under that lock, with the versions published meanwhile, and a publish in flight is never taken for
 * debris. On a read-only filesystem (the lock cannot be made, and no publish can be in flight) they are
 * listed without it. Not listed when any version could not be read: what it refers to is unknown, and its
 * packs must not be offered for removal.
 */
async function unreferencedFiles(
  reader: RepoReader,
  options: VerifyOptions,
  latest: number,
  referenced: Set<string>,
  unread: readonly number[],
): Promise<UnreferencedReport> {
  const skipped = (why: string): UnreferencedReport => ({ skipped: why, files: [], bytes: 0 });
  const transport = reader.transport;
  if (!(transport instanceof FileTransport)) {
    return skipped(
      /^https?:/i.test(reader.url)
        ? "not checked for a repository over HTTP (a web server does not list packs/ and objects/); run cui repo verify on its directory"
        : "not checked: the repository is not a local directory",
    );
  }
  if (unread.length > 0) {
    return skipped(
      `not checked: ${unread.length === 1 ? `version ${unread[0]} could not be read, so what it refers to is unknown` : `versions ${unread.join(", ")} could not be read, so what they refer to is unknown`}`,
    );
  }
  const root = transport.root;
  const scan = async (): Promise<UnreferencedReport> => {
    // Versions published since the check above began: what they refer to is in use too.
    for (const version of await localVersions(root)) {
      if (version <= latest) continue;
      try {
        for (const path of referencedPaths(await reader.manifest(version, options.pinnedKey)))
          referenced.add(path);
      } catch (error) {
        if (!(error instanceof CollectiveError)) throw error;
        return skipped(
          `not checked: version ${version}, published while verifying, could not be read (${error.message})`,
        );
      }
    }
    const files: UnreferencedFile[] = [];
    for (const dir of ["packs", "objects"]) {
      const names = await readdir(join(root, dir)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return [] as string[];
        throw error;
      });
      for (const name of names) {
        const path = `${dir}/${name}`;
        if (referenced.has(path)) continue;
        const info = await lstat(join(root, dir, name)).catch(() => undefined);
        if (info !== undefined) files.push({ path, size: info.size });
      }
    }
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { files, bytes: files.reduce((sum, f) => sum + f.size, 0) };
  };
  const lockPath = join(root, "locks", "publish.lock");
  let locked = false;
  try {
    return await withPublishLock(
      root,
      () => {
        locked = true;
        return scan();
      },
      options.lockTimeoutMs,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (locked) {
      if (typeof code !== "string") throw error;
      return skipped(`not checked: cannot list packs/ and objects/ (${(error as Error).message})`);
    }
    if (error instanceof CollectiveError && error.code === "REPO_LOCKED")
      return skipped(`not checked: ${error.message}; run cui repo verify again once that publish is done`);
    // No publish can be under way on a read-only filesystem: nothing is in flight.
    if (code === "EROFS") return scan();
    if (typeof code !== "string") throw error;
    return skipped(
      `not checked: cannot take the publish lock ${lockPath}, which keeps a publish in flight from being taken for debris (${(error as Error).message})`,
    );
  }
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
