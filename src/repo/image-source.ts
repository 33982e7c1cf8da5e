/**
 * A ContainerAppliance's `image`, whatever its form: a root filesystem directory, a rootfs tarball
 * (.tar, .tar.gz, .tar.zst), an OCI image layout directory, or a `docker save` / OCI archive. Recognised by
 * content, not by file name.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { CollectiveError } from "../errors.js";
import { DirectoryBlobs, TarBlobs } from "./blob-source.js";
import type { ChunkStore } from "./chunk-store.js";
import { decompressed, sniffCompression } from "./compressed-stream.js";
import { addDirectory, fingerprintPaths, imageFingerprint, type TreeFingerprint } from "./dir-source.js";
import type { ImageConfig } from "./format.js";
import { LayerStack } from "./layer-apply.js";
import { addImage } from "./oci-image.js";
import type { QuickCheck, StoredTree } from "./quick-check.js";
import { isTarHeader, readTar } from "./tar-reader.js";
import type { TreeBuilder } from "./tree-builder.js";

/** First member names that mark an image archive rather than a root filesystem. */
const ARCHIVE_MEMBER =
  /^(\.\/)?(blobs(\/.*)?|oci-layout|index\.json|manifest\.json|repositories|[0-9a-f]{64}(\.json|\/.*)?)$/;

async function readHead(path: string, bytes: number): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function firstMemberName(
  stream: AsyncIterable<Uint8Array>,
  label: string,
): Promise<string | undefined> {
  for await (const entry of readTar(stream, label)) return entry.name;
  return undefined;
}

export interface ImageInput {
  readonly path: string;
  /** A directory for temporary files (a compressed image archive is decompressed there). */
  readonly tempDir: string;
  readonly progress?: (bytes: number) => void;
  /** Unchanged-image detection: files of a directory, a whole directory or archive (quick-check.ts). */
  readonly quick?: QuickCheck;
}

/** What addContainerImage found. */
export interface AddedImage {
  /** The image's defaults (for OCI and docker images). */
  readonly config?: ImageConfig;
  /**
   * The image's fingerprint (a root filesystem directory's, an OCI layout's or an archive's: dir-source.ts),
   * for the quick-check record; absent when it changed too recently for a record to vouch for it
   * (change-cutoff.ts).
   */
  readonly fingerprint?: TreeFingerprint;
  /**
   * An image (a directory, an OCI layout or an archive) unchanged since its last publish into this
   * repository: what was stored then, which the version uses as it is (nothing was added to the tree).
   */
  readonly unchanged?: StoredTree;
}

/** Adds the image at input.path to the tree (unless it is a directory stored before: AddedImage.unchanged). */
export async function addContainerImage(
  input: ImageInput,
  store: ChunkStore,
  tree: TreeBuilder,
): Promise<AddedImage> {
  const { path, progress } = input;
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new CollectiveError(
      "IMAGE_MISSING",
      `the image ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      {
        hint: "the image parameter names a path relative to the CVL file; check that it exists",
      },
    );
  }
  if (!info.isDirectory() && !info.isFile())
    throw new CollectiveError("BAD_IMAGE", `the image ${path} is neither a file nor a directory`);
  const reused = await unchangedSinceRecord(input, store);
  if (reused !== undefined) return reused;
  if (info.isDirectory()) {
    const blobs = new DirectoryBlobs(path, path);
    if ((await blobs.has("oci-layout")) && (await blobs.has("index.json"))) {
      // Its few files are looked at before the blobs are read, for the record.
      const fingerprint = imageFingerprint(path);
      return withFingerprint(optionalConfig(await addImage(blobs, store, tree, progress)), fingerprint);
    }
    // The fingerprint comes from the walk that stores the tree (no walk more).
    return withFingerprint({}, await addDirectory(path, store, tree, progress, input.quick));
  }
  // An archive is one entry: its fingerprint is its own stat, taken before it is read.
  const fingerprint = imageFingerprint(path);
  return withFingerprint(await addArchive(input, store, tree), fingerprint);
}

function withFingerprint(added: AddedImage, fingerprint: TreeFingerprint | undefined): AddedImage {
  return fingerprint === undefined ? added : { ...added, fingerprint };
}

/**
 * The tree stored from this directory, OCI layout or archive at its last publish into this repository, when nothing
 * in it changed since: a walk that only looks (an lstat of each path the record names) computes the
 * fingerprint again (quick-check.ts). Undefined when there is no such record, something changed, or
 * what the record names is no longer in the repository.
 */
async function unchangedSinceRecord(input: ImageInput, store: ChunkStore): Promise<AddedImage | undefined> {
  const paths = input.quick?.recordedPaths();
  if (paths === undefined) return undefined;
  const digest = fingerprintPaths(input.path, paths);
  const known = digest === undefined ? undefined : input.quick!.unchangedTree(digest);
  if (known === undefined || !(await store.reuseStored(known.listing, known.packs, known.chunks)))
    return undefined;
  input.progress?.(known.size);
  return { ...optionalConfig(known.config), fingerprint: { digest: digest!, paths }, unchanged: known };
}

/** Adds a tar, a compressed tar, or a docker save / OCI archive to the tree. */
async function addArchive(input: ImageInput, store: ChunkStore, tree: TreeBuilder): Promise<AddedImage> {
  const { path, progress } = input;
  const head = await readHead(path, 512);
  const compression = sniffCompression(head);
  if (compression === "plain" && !isTarHeader(head)) {
    throw new CollectiveError(
      "UNKNOWN_IMAGE_FORMAT",
      `the image ${path} is not a directory, a tar archive or a compressed tar`,
      {
        hint: "give a root filesystem directory, a .tar, .tar.gz or .tar.zst, an OCI layout directory, or a docker save archive",
      },
    );
  }
  const open = () => decompressed(createReadStream(path, { highWaterMark: 1 << 20 }), path);
  const first = await firstMemberName(open(), path);
  if (first !== undefined && ARCHIVE_MEMBER.test(first)) {
    let archive = path;
    if (compression !== "plain") {
      // Image archives need random access to their members: decompress them once.
      archive = join(input.tempDir, "image-archive.tar");
      await pipeline(open(), createWriteStream(archive));
    }
    return optionalConfig(await addImage(await TarBlobs.scan(archive, path), store, tree, progress));
  }
  await new LayerStack(tree, store, progress).apply(readTar(open(), path), path, { whiteouts: false });
  return {};
}

function optionalConfig(config: ImageConfig | undefined): AddedImage {
  return config === undefined ? {} : { config };
}
