/**
 * Fetching a version of an appliance through the host cache and materializing its program disks:
 * verify the manifest, fetch every missing chunk (verified on arrival) while writing the disks into a
 * temporary directory beside the destination (block disks from the frames as they arrive, trees from the
 * cache as their frames land there), and rename it into place. A failure at any point leaves the
 * destination untouched: nothing partially fetched or partially written is ever where a user looks.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, readdir, readlink, rename, rm, rmdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CollectiveError } from "../errors.js";
import { SafeDestination } from "../fs-safety/safe-destination.js";
import type { Disk, Manifest, TreeDisk, TreeEntry } from "../repo/format.js";
import { allWithdrawnMessage, RepoReader } from "../repo/repo-reader.js";
import type { RepoTransport } from "../repo/transport.js";
import { parseTreeListing } from "../repo/tree-listing.js";
import { processExists } from "../sys/process-exists.js";
import { prepareCache } from "./cache-dir.js";
import { ChunkSource, type FrameSink, type TransferStats } from "./chunk-source.js";
import { alignedPool, openMaybeDirect } from "./direct-io.js";
import { startVerifierThread } from "./frame-verifier.js";
import { checkManifestForFetch } from "./manifest-checks.js";
import { BlockDiskWriter, type BlockPlan, BlockPlanner, blockDiskAligned } from "./materialize-block.js";
import { planTreeFiles, type TreeWriteReport, writeTree } from "./materialize-tree.js";
import { pullIoError } from "./pull-io-error.js";
import { readStream, readStreamIndex } from "./stream-reader.js";

export interface PullOptions {
  readonly cacheDir: string;
  /** The version; the latest when absent. */
  readonly version?: number | undefined;
  /** "ed25519:..." the signer must be. */
  readonly pinnedKey?: string | undefined;
  /** Make the materialized trees read-only (the cache's shared copies). */
  readonly readOnly?: boolean;
  /** Raw bytes made available so far, of `total`. */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export interface PulledDisk {
  readonly name: string;
  readonly shape: Disk["shape"];
  readonly size: number;
  /** Where it was written: a directory for a tree, a sparse file for a block image. */
  readonly path: string;
}

export interface PullResult {
  readonly repository: string;
  readonly version: number;
  readonly manifest: Manifest;
  readonly disks: readonly PulledDisk[];
  readonly transfer: TransferStats;
  readonly tree: TreeWriteReport | undefined;
  /** The version's CVL and descriptor files written beside the disks (not when a tree fills dest). */
  readonly files: readonly string[];
}

/** Materializes a version into `dest`, which must not exist (or be an empty directory). */
export async function pullVersion(
  transport: RepoTransport,
  dest: string,
  options: PullOptions,
): Promise<PullResult> {
  try {
    return await pullInto(transport, dest, options);
  } catch (error) {
    throw await pullIoError(error, { repository: transport.url, dest, cacheDir: options.cacheDir });
  }
}

async function pullInto(transport: RepoTransport, dest: string, options: PullOptions): Promise<PullResult> {
  await checkDestination(dest);
  await sweepPartials(dest);
  const reader = new RepoReader(transport);
  // The descriptor first (the manifest's check needs it anyway): a URL that is no repository is named as
  // such, not as one with no versions yet.
  // Without --version, the newest version that is not withdrawn (as an import takes); a withdrawn one
  // can still be pulled by its number, to inspect it.
  const [, newest] = await Promise.all([
    reader.descriptor(),
    options.version === undefined ? reader.newestUsable() : undefined,
  ]);
  if (newest?.newest === 0) {
    throw new CollectiveError("REPO_EMPTY", `${transport.url} has no versions yet`, {
      hint: "Publish one with `cui publish <dir> <file.cvl>`.",
    });
  }
  if (newest?.version === 0) {
    throw new CollectiveError("VERSION_WITHDRAWN", allWithdrawnMessage(transport.url, newest), {
      hint: `pull one anyway with --version N, to inspect it (cui versions ${transport.url} lists them)`,
    });
  }
  const version = options.version ?? newest!.version;
  const manifest = await reader.manifest(version, options.pinnedKey);
  checkManifestForFetch(manifest, transport.url);
  const framesOnArrival = manifest.disks.every((disk) => disk.shape === "block");
  // Its frames will be checked on a second thread: started now, it is up by the time they come.
  if (framesOnArrival) startVerifierThread();
  const layout = await prepareCache(options.cacheDir);
  let done = 0;
  let total = 0;
  let fetchingDisks = false;
  // The disks' metadata stream indexes need only the manifest: read while the packs' indexes come.
  const context = { repository: reader.url, version: manifest.version };
  const streamIndexes = manifest.disks.map((disk) =>
    readStreamIndex(
      layout.objects,
      transport,
      context,
      disk.shape === "block" ? disk.blocks : disk.listing,
      options.signal,
    ),
  );
  for (const read of streamIndexes) read.catch(() => undefined); // awaited below
  // Nothing may still write into the cache when the pull returns or throws: awaited in every case.
  const streamIndexesSettled = async (): Promise<void> => {
    await Promise.allSettled(streamIndexes.map((read) => read.then((index) => index.kept)));
  };
  let source: ChunkSource;
  try {
    source = await ChunkSource.open(layout.packs, reader, manifest, {
      // Block disks are written from frames as they arrive; trees are read back from the cache right
      // after each frame lands there (while it is still in the page cache).
      framesOnArrival,
      onProgress: (bytes) => {
        done += bytes;
        options.onProgress?.(done, total);
      },
      // Progress is the disks' fetch (the metadata streams' before it are quick): counted from there.
      onTotal: (bytes) => {
        if (!fetchingDisks) return;
        done = 0;
        total = bytes;
      },
    });
  } catch (error) {
    await streamIndexesSettled();
    throw error;
  }
  try {
    // First the plans: the disks' metadata streams (verified, cached) and the chunks they need.
    const plans: Array<{
      disk: Disk;
      block?: BlockPlan;
      entries?: TreeEntry[];
      files?: ReturnType<typeof planTreeFiles>;
    }> = [];
    for (const [d, disk] of manifest.disks.entries()) {
      const streamIndex = await streamIndexes[d]!;
      if (disk.shape === "block") {
        // The block map (32 bytes a block) is only needed for planning: it is read into a pooled buffer
        // that the fetch's downloads reuse right after, instead of fresh memory (slow to touch: direct-io.ts).
        // It is planned as it arrives: the planner takes the map's leading bytes while the rest downloads.
        let pooled: Buffer | undefined;
        let planner: BlockPlanner | undefined;
        try {
          await readStream(
            source,
            streamIndex,
            options.signal,
            (length) => {
              pooled = alignedPool.acquire(length);
              planner = new BlockPlanner(source, disk, pooled.subarray(0, length));
              return pooled;
            },
            (bytes) => planner!.advance(bytes),
          );
          plans.push({ disk, block: planner!.finish() });
        } finally {
          if (pooled !== undefined) alignedPool.release(pooled);
        }
      } else {
        const listing = await readStream(source, streamIndex, options.signal);
        const entries = parseTreeListing(listing, `${transport.url} version ${version} disk ${disk.name}`);
        plans.push({ disk, entries, files: planTreeFiles(source, entries) });
      }
    }
    const lists = plans.map((plan) =>
      plan.block !== undefined ? plan.block.refs : plan.files!.flatMap((file) => file.refs),
    );
    // One disk's list as it is (a copy would be more fresh memory to touch: direct-io.ts).
    const refs = lists.length === 1 ? lists[0]! : concatenate(lists);
    // Everything is written into a temporary sibling of dest, renamed into place at the end. Block disks
    // are written while their frames arrive (and finished from the cache); trees once all is cached.
    // Named with this process's id, so that a later pull can tell a copy left by a killed one (sweepPartials).
    const temp = join(
      dirname(dest),
      `.${basename(dest)}.partial-${process.pid}-${randomBytes(4).toString("hex")}`,
    );
    await mkdir(temp, { mode: 0o700 });
    const images: Array<{ writer: BlockDiskWriter; handle: FileHandle }> = [];
    try {
      for (const plan of plans) {
        if (plan.block === undefined) continue;
        const file = join(temp, `${plan.disk.name}.img`);
        const create = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
        const { handle, direct } = await openMaybeDirect(
          file,
          create,
          0o644,
          blockDiskAligned(plan.block.disk),
        );
        const writer = new BlockDiskWriter(source, plan.block, handle, direct);
        images.push({ writer, handle });
        await writer.begin();
      }
      const sink: FrameSink | undefined =
        images.length === 0
          ? undefined
          : async (pack, first, raws) => {
              for (const { writer } of images) await writer.frames(pack, first, raws);
            };
      // Trees are written while the fetch runs: their reads from the cache wait for frames still on the
      // way (ChunkSource.read). A failure on either side stops the other before anything is cleaned up.
      const stop = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
      fetchingDisks = true;
      const fetching = source.ensure(refs, signal, sink);
      fetching.catch(() => undefined); // awaited below; a tree's write may fail first
      const trees = manifest.disks.filter((disk): disk is TreeDisk => disk.shape === "tree");
      const disks: PulledDisk[] = [];
      let report: TreeWriteReport | undefined;
      try {
        let nextImage = 0;
        for (const plan of plans) {
          const { disk } = plan;
          if (disk.shape === "block") {
            await fetching;
            await images[nextImage++]!.writer.finish();
            disks.push({
              name: disk.name,
              shape: "block",
              size: disk.size,
              path: join(dest, `${disk.name}.img`),
            });
          } else {
            const alone = trees.length === 1;
            const root = alone ? temp : join(temp, disk.name);
            if (!alone) await mkdir(root, { mode: 0o700 });
            report = await writeTree(source, plan.entries!, plan.files!, root, {
              readOnly: options.readOnly ?? false,
            });
            disks.push({
              name: disk.name,
              shape: "tree",
              size: disk.size,
              path: alone ? dest : join(dest, disk.name),
            });
          }
        }
        await fetching;
      } catch (error) {
        stop.abort();
        await fetching.catch(() => undefined); // nothing may still write into the cache or temp
        throw error;
      }
      options.signal?.throwIfAborted();
      // A VM's .vmx and CVL beside its images make the pull self-describing; a root filesystem stays pure.
      const files: string[] = [];
      if (trees.length !== 1) {
        const destination = new SafeDestination(temp);
        for (const file of manifest.files) {
          await destination.writeFile(file.path, await reader.versionFile(manifest, file.path));
          files.push(join(dest, file.path));
        }
      }
      await closeAll(images);
      await moveIntoPlace(temp, dest);
      return {
        repository: transport.url,
        version,
        manifest,
        disks,
        transfer: source.stats,
        tree: report,
        files,
      };
    } catch (error) {
      await closeAll(images).catch(() => {});
      await removeTree(temp);
      throw error;
    }
  } finally {
    await streamIndexesSettled();
    await source.close();
  }
}

function concatenate(lists: ReadonlyArray<ArrayLike<number>>): Float64Array {
  const all = new Float64Array(lists.reduce((sum, list) => sum + list.length, 0));
  let at = 0;
  for (const list of lists) {
    all.set(list, at);
    at += list.length;
  }
  return all;
}

/** Closes the images' files, each once (a second close() of a FileHandle throws). */
async function closeAll(images: Array<{ handle: FileHandle }>): Promise<void> {
  const handles = images.splice(0).map(({ handle }) => handle);
  await Promise.all(handles.map((handle) => handle.close()));
}

async function checkDestination(dest: string): Promise<void> {
  // The result is renamed into place, which would replace a symlink, not fill the directory it names.
  if ((await lstat(dest).catch(() => undefined))?.isSymbolicLink()) {
    const target = await readlink(dest).catch(() => "?");
    throw new CollectiveError("PULL_DEST", `cannot pull into ${dest}: it is a symlink (to ${target})`, {
      hint: "Give the new or empty directory itself, not a link to it.",
    });
  }
  const info = await stat(dest).catch(() => undefined);
  if (info === undefined) {
    const parent = await stat(dirname(dest)).catch(() => undefined);
    if (parent?.isDirectory()) return;
    throw new CollectiveError("PULL_DEST", `cannot pull into ${dest}: its parent directory does not exist`, {
      hint: "Create the parent directory first, or choose another destination.",
    });
  }
  if (!info.isDirectory() || (await readdir(dest)).length > 0) {
    throw new CollectiveError(
      "PULL_DEST",
      `cannot pull into ${dest}: it exists and is not an empty directory`,
      {
        hint: "Choose a new destination; pull never overwrites anything.",
      },
    );
  }
}

async function moveIntoPlace(temp: string, dest: string): Promise<void> {
  await rmdir(dest).catch(() => undefined); // an empty directory given as the destination
  try {
    await rename(temp, dest);
  } catch (error) {
    throw new CollectiveError(
      "PULL_DEST",
      `cannot move the pulled version into ${dest}: ${(error as NodeJS.ErrnoException).code}`,
      {
        hint: "Something else created the destination meanwhile; choose a new one.",
        cause: error,
      },
    );
  }
}

/**
 * Removes the partial copies of `dest` that pulls killed outright (SIGKILL, a crash, a power cut) left
 * beside it: those whose process is gone. A pull that fails or is interrupted removes its own.
 */
async function sweepPartials(dest: string): Promise<void> {
  const prefix = `.${basename(dest)}.partial-`;
  const names = await readdir(dirname(dest)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d+)-[0-9a-f]{8}$/.exec(name.slice(prefix.length));
    if (match === null || processExists(Number(match[1]))) continue;
    await removeTree(join(dirname(dest), name));
  }
}

/** Removes a partial result, including read-only directories a failed tree may have left. */
async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(async () => {
    const { execFile } = await import("node:child_process");
    await new Promise((resolve) => execFile("chmod", ["-R", "u+w", "--", path], () => resolve(undefined)));
    await rm(path, { recursive: true, force: true });
  });
}
