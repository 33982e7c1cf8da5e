/**
 * Reads a repository through a RepoTransport and verifies everything it hands out: the manifest's
 * signature, every object against its name, every chunk against its hash. Errors name the repository,
 * the version and the chunk.
 */
import { hash } from "node:crypto";
import { CollectiveError } from "../errors.js";
import { decompressFrame } from "./compression.js";
import {
  type Manifest,
  paths,
  type RepoDescriptor,
  readLimits,
  type TreeEntry,
  type Withdrawal,
} from "./format.js";
import { verifyManifest } from "./manifest.js";
import { chunkListEntries, decodeObject, ObjectType, ZERO_HASH } from "./meta-object.js";
import { PackIndex } from "./pack-index.js";
import { parseDescriptor } from "./repo-layout.js";
import { sha256Matches } from "./sha256.js";
import type { RepoTransport } from "./transport.js";
import { parseTreeListing } from "./tree-listing.js";
import { verifyWithdrawal } from "./withdraw.js";

/** Reading this many bytes of ranges at once bounds memory while keeping requests large. */
const BATCH_BYTES = 8 << 20;

export interface ChunkLocation {
  readonly pack: PackIndex;
  /** The chunk's position in the pack's index. */
  readonly entry: number;
}

export class RepoReader {
  private descriptorCache: RepoDescriptor | undefined;
  private readonly indexes = new Map<string, PackIndex>();

  constructor(readonly transport: RepoTransport) {}

  get url(): string {
    return this.transport.url;
  }

  async descriptor(): Promise<RepoDescriptor> {
    if (this.descriptorCache === undefined) {
      let bytes: Uint8Array;
      try {
        bytes = await this.transport.readFile(paths.descriptor, { maxBytes: readLimits.descriptor });
      } catch (error) {
        if (error instanceof CollectiveError && error.code === "REPO_NOT_FOUND") {
          throw new CollectiveError(
            "NOT_A_REPOSITORY",
            `${this.url} is not a repository (it has no ${paths.descriptor})`,
            {
              hint: "check the URL; create a repository with cui create",
            },
          );
        }
        throw error;
      }
      this.descriptorCache = parseDescriptor(bytes, this.url);
    }
    return this.descriptorCache;
  }

  /** The newest version: latest.json, then probing upward (it may lag after a crash). 0 when empty. */
  async latestVersion(): Promise<number> {
    let latest = 0;
    const bytes = await this.readIfPresent(paths.latest, 4096);
    if (bytes !== undefined) {
      const data = parseJson(bytes);
      if (data === undefined) {
        const text = bytes.toString("utf8");
        throw new CollectiveError(
          "REPO_BAD_LATEST",
          `${this.url}: ${paths.latest} is not valid JSON (it begins ${JSON.stringify(text.slice(0, 40))}${text.length > 40 ? "..." : ""})`,
          {
            hint: "the server does not serve the repository's files as stored (an error page?), or the repository is damaged",
          },
        );
      }
      const version = (data as { version?: unknown } | null)?.version;
      if (typeof version === "number" && Number.isInteger(version) && version >= 0) latest = version;
    }
    while (await this.isManifestOf(latest + 1)) latest++;
    return latest;
  }

  /**
   * Whether a manifest of `version` is there. What is there must at least claim to be that version's
   * manifest: a server that answers every path with a page of its own (a "soft 404") would otherwise
   * make every probe succeed, and latestVersion probe forever.
   */
  private async isManifestOf(version: number): Promise<boolean> {
    const bytes = await this.readIfPresent(paths.manifest(version), readLimits.manifest);
    if (bytes === undefined) return false;
    return (parseJson(bytes) as { version?: unknown } | null | undefined)?.version === version;
  }

  /** A file of the repository, or undefined when it is not there (any other failure is thrown). */
  private async readIfPresent(path: string, maxBytes: number): Promise<Buffer | undefined> {
    try {
      return await this.transport.readFile(path, { maxBytes });
    } catch (error) {
      if (error instanceof CollectiveError && error.code === "REPO_NOT_FOUND") return undefined;
      throw error;
    }
  }

  /**
   * The newest version that is not withdrawn (what an import or a pull takes when it names none), with
   * the newest of all and, when that one is withdrawn, its notice's reason. 0 for none.
   */
  async newestUsable(): Promise<NewestUsable> {
    const newest = await this.latestVersion();
    let reason: string | undefined;
    for (let version = newest; version > 0; version--) {
      const withdrawal = await this.withdrawal(version);
      if (withdrawal === undefined) return { version, newest };
      if (version === newest) reason = withdrawal.reason;
    }
    return { version: 0, newest, reason };
  }

  /** Whether the version carries a genuine (signed) withdrawal notice; forged notices are ignored. */
  async isWithdrawn(version: number): Promise<boolean> {
    return (await this.withdrawal(version)) !== undefined;
  }

  /** The version's withdrawal notice when it is genuine (signed by a repository key, for this version). */
  async withdrawal(version: number): Promise<Withdrawal | undefined> {
    const notice = await this.readIfPresent(paths.withdrawal(version), readLimits.signature);
    if (notice === undefined) return undefined;
    const signature = await this.readIfPresent(paths.withdrawalSignature(version), readLimits.signature);
    const descriptor = await this.descriptor();
    if (
      signature === undefined ||
      !verifyWithdrawal(notice, signature, descriptor.keys, descriptor.id, version)
    )
      return undefined;
    return JSON.parse(Buffer.from(notice).toString("utf8")) as Withdrawal;
  }

  /** The verified manifest of a version (signature, signer, repository id, number). */
  async manifest(version: number, pinnedKey?: string): Promise<Manifest> {
    const descriptor = await this.descriptor();
    let bytes: Uint8Array;
    let signature: Uint8Array;
    try {
      bytes = await this.transport.readFile(paths.manifest(version), { maxBytes: readLimits.manifest });
      signature = await this.transport.readFile(paths.signature(version), { maxBytes: readLimits.signature });
    } catch (error) {
      if (error instanceof CollectiveError && error.code === "REPO_NOT_FOUND") {
        throw new CollectiveError(
          "VERSION_NOT_FOUND",
          `${this.url} has no version ${version} (or its signature is missing)`,
          {
            hint: "list the versions with cui versions",
          },
        );
      }
      throw error;
    }
    return verifyManifest(bytes, signature, { where: this.url, descriptor, version, pinnedKey });
  }

  /** A stored file of a version (the CVL, a descriptor), checked against the manifest. */
  async versionFile(manifest: Manifest, path: string): Promise<Buffer> {
    const entry = manifest.files.find((f) => f.path === path);
    if (entry === undefined)
      throw new CollectiveError(
        "FILE_NOT_IN_VERSION",
        `${this.url} version ${manifest.version} has no file ${path}`,
      );
    const bytes = await this.transport.readFile(paths.versionFile(manifest.version, path), {
      maxBytes: readLimits.versionFile,
    });
    if (bytes.length !== entry.size || hash("sha256", bytes, "hex") !== entry.sha256) {
      throw new CollectiveError(
        "FILE_CORRUPT",
        `${this.url} version ${manifest.version}: file ${path} does not match its hash in the manifest`,
        {
          hint: `the repository is damaged or was tampered with; do not use this version, and check the repository with cui repo verify ${this.url}`,
        },
      );
    }
    return bytes;
  }

  async packIndex(id: string): Promise<PackIndex> {
    let index = this.indexes.get(id);
    if (index === undefined) {
      const bytes = await this.transport.readFile(paths.packIndex(id), { maxBytes: readLimits.packIndex });
      if (hash("sha256", bytes, "hex") !== id) {
        throw new CollectiveError(
          "PACK_INDEX_CORRUPT",
          `${this.url}: pack index ${id} does not match its name`,
        );
      }
      index = new PackIndex(id, bytes);
      this.indexes.set(id, index);
    }
    return index;
  }

  /** Finds a chunk in the packs a manifest lists. */
  async locate(manifest: Manifest, chunk: Uint8Array): Promise<ChunkLocation> {
    for (const id of manifest.packs) {
      const pack = await this.packIndex(id);
      const entry = pack.indexOf(chunk);
      if (entry >= 0) return { pack, entry };
    }
    throw new CollectiveError(
      "CHUNK_MISSING",
      `${this.url} version ${manifest.version}: chunk ${Buffer.from(chunk).toString("hex")} is in none of the version's packs`,
    );
  }

  /**
   * Fetches chunks and yields them verified, in the order asked. Each chunk's whole frame is fetched and
   * checked; requests are batched per pack and coalesced by the transport.
   */
  async *chunks(manifest: Manifest, hashes: readonly Uint8Array[]): AsyncGenerator<Buffer> {
    let at = 0;
    while (at < hashes.length) {
      const batch: ChunkLocation[] = [];
      /** Frames of the batch: "pack id:frame" -> the frame's raw bytes once fetched. */
      const frames = new Map<string, { pack: PackIndex; frame: number; raw?: Buffer }>();
      let bytes = 0;
      while (at < hashes.length && (batch.length === 0 || bytes < BATCH_BYTES)) {
        const location = await this.locate(manifest, hashes[at]!);
        batch.push(location);
        const frame = location.pack.frameOf(location.entry);
        const key = `${location.pack.id}:${frame}`;
        if (!frames.has(key)) {
          frames.set(key, { pack: location.pack, frame });
          bytes += location.pack.frameStoredLength(frame);
        }
        at++;
      }
      const byPack = new Map<PackIndex, Array<{ pack: PackIndex; frame: number; raw?: Buffer }>>();
      for (const item of frames.values()) {
        const list = byPack.get(item.pack) ?? [];
        list.push(item);
        byPack.set(item.pack, list);
      }
      for (const [pack, items] of byPack) {
        const ranges = items.map((item) => {
          const frame = pack.frameAt(item.frame);
          return { offset: frame.offset, length: frame.storedLength };
        });
        const data = await this.transport.readRanges(paths.pack(pack.id), ranges);
        items.forEach((item, k) => {
          item.raw = this.openFrame(manifest, pack, item.frame, data[k]!);
        });
      }
      for (const { pack, entry } of batch) {
        const raw = frames.get(`${pack.id}:${pack.frameOf(entry)}`)!.raw!;
        const offset = pack.offsetInFrame(entry);
        yield raw.subarray(offset, offset + pack.rawLength(entry));
      }
    }
  }

  /**
   * Decompresses a frame fetched from a pack and checks every chunk in it against its hash; returns the
   * frame's raw bytes, whose chunks (at the index's offsets) are then known to be genuine. They may be
   * decoded into `into` (see decompressFrame).
   */
  openFrame(
    manifest: Manifest | undefined,
    pack: PackIndex,
    frame: number,
    stored: Uint8Array,
    into?: Buffer,
  ): Buffer {
    let raw: Buffer;
    try {
      raw = decompressFrame(stored, pack.frameRawLength(frame), pack.compression, into);
    } catch (error) {
      throw this.frameError(manifest, pack, frame, { detail: (error as Error).message });
    }
    for (const entry of pack.entriesOfFrame(frame)) {
      if (badChunk(pack, entry, raw) !== undefined) throw this.frameError(manifest, pack, frame, { entry });
    }
    return raw;
  }

  /**
   * What openFrame throws for a fetched frame that does not decode (`detail` says why: all its chunks
   * are lost, the message names the first) or that holds a chunk (`entry`) not matching its hash. Also
   * used by a verifier checking frames on another thread (cache/frame-verifier.ts), so the two agree.
   */
  frameError(
    manifest: Manifest | undefined,
    pack: PackIndex,
    frame: number,
    failure: { readonly detail: string } | { readonly entry: number },
  ): CollectiveError {
    const where = (chunk: string): string =>
      `${this.url}${manifest ? ` version ${manifest.version}` : ""}: chunk ${chunk} (pack ${pack.id})`;
    if ("entry" in failure) {
      return new CollectiveError(
        "CHUNK_CORRUPT",
        `${where(pack.hashAt(failure.entry).toString("hex"))} does not match its hash`,
        { hint: "the repository is damaged or was tampered with" },
      );
    }
    const entries = pack.entriesOfFrame(frame);
    const first = entries.length > 0 ? pack.hashAt(entries[0]!).toString("hex") : "(none)";
    return new CollectiveError(
      "CHUNK_CORRUPT",
      `${where(first)} is corrupt: frame ${frame}: ${failure.detail}`,
    );
  }

  /** The hashes listed by a stream index object. */
  async streamIndex(name: string): Promise<Buffer[]> {
    const bytes = await this.transport.readFile(paths.object(name), { maxBytes: readLimits.object });
    return chunkListEntries(name, decodeObject(name, bytes, ObjectType.streamIndex));
  }

  /** A whole metadata stream (tree listing, block map), verified. */
  async stream(manifest: Manifest, name: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(manifest, await this.streamIndex(name))) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /** A version's tree listing, every line checked for shape, order and safe paths (tree-listing.ts). */
  async treeListing(manifest: Manifest, listing: string): Promise<TreeEntry[]> {
    return parseTreeListing(await this.stream(manifest, listing), `${this.url} version ${manifest.version}`);
  }

  /** The block map as hashes (ZERO_HASH for holes). */
  async blockMap(manifest: Manifest, blocks: string): Promise<Buffer[]> {
    return chunkListEntries(blocks, await this.stream(manifest, blocks));
  }
}

export interface NewestUsable {
  /** The newest version that is not withdrawn; 0 when there is none. */
  readonly version: number;
  /** The newest version; 0 when the repository has none. */
  readonly newest: number;
  /** The withdrawal notice's reason of the newest version, when it is withdrawn. */
  readonly reason?: string | undefined;
}

/**
 * What to say when every version is withdrawn (a repository with versions, none usable). A withdrawn
 * version can still be named explicitly, to inspect or to roll back to.
 */
export function allWithdrawnMessage(url: string, latest: NewestUsable): string {
  const n = latest.newest;
  const which =
    n === 1 ? `the only version of ${url} is` : `${n === 2 ? "both" : `all ${n}`} versions of ${url} are`;
  const why = latest.reason ? ` (version ${n}: ${JSON.stringify(latest.reason)})` : "";
  return `${which} withdrawn${why}`;
}

/** The JSON value of bytes, or undefined when they are not JSON (which JSON.parse never returns). */
function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return undefined;
  }
}

/** The hex hash of entry when its bytes in the frame's raw bytes do not match it, else undefined. */
export function badChunk(pack: PackIndex, entry: number, frameRaw: Buffer): string | undefined {
  const offset = pack.offsetInFrame(entry);
  // Compared in place in the index: no view of the expected hash per chunk (this runs for every chunk).
  return sha256Matches(
    frameRaw.subarray(offset, offset + pack.rawLength(entry)),
    pack.indexBytes,
    pack.hashOffset(entry),
  )
    ? undefined
    : pack.hashAt(entry).toString("hex");
}

export function isHole(entry: Uint8Array): boolean {
  return Buffer.compare(entry, ZERO_HASH) === 0;
}
