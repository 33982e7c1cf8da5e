/**
 * `cui publish`: stores an appliance as the next version of a repository. Everything is written under
 * tmp/ first: new packs with their indexes, new objects, the version directory. Under the publish lock
 * the packs and objects are renamed into packs/ and objects/ and then the version appears in one rename,
 * so a crash or a full disk leaves no version behind; a publish that fails removes again what it renamed
 * into packs/ and objects/ (a crash can leave those unreferenced, never a version).
 */

import { hash } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import type { ImportResolver } from "../cvl/resolver.js";
import { CollectiveError } from "../errors.js";
import { processExists } from "../sys/process-exists.js";
import { type ApplianceDefinition, readApplianceDefinition } from "./appliance-definition.js";
import { addBlockImage } from "./block-source.js";
import { ChunkStore } from "./chunk-store.js";
import { rebuildFeed } from "./feed-writer.js";
import {
  type Disk,
  FORMAT_VERSION,
  MANIFEST_FORMAT,
  type MachineSpec,
  type Manifest,
  paths,
  type StoredFile,
} from "./format.js";
import { syncDirectory, writeFileAtomic } from "./fs-atomic.js";
import { ImageQuickCheck } from "./image-quick-check.js";
import { addContainerImage } from "./image-source.js";
import { loadPublisherKey, type Publisher } from "./keys.js";
import { encodeManifest, signManifest } from "./manifest.js";
import { withPublishLock } from "./publish-lock.js";
import { QuickCheck, type StoredTree } from "./quick-check.js";
import { localVersions, readLocalDescriptor } from "./repo-layout.js";
import { relativeInside, resolveInside } from "./safe-path.js";
import { serializeListing, TreeBuilder } from "./tree-builder.js";
import { readVmDescriptor } from "./vm-descriptor.js";

export interface PublishOptions {
  readonly repoDir: string;
  readonly cvlPath: string;
  readonly keyPath: string;
  /** Called with bytes read so far from images and disks (for a progress display). */
  readonly progress?: (bytes: number) => void;
  readonly resolver?: ImportResolver;
  /**
   * Which object of the CVL file is the appliance, when it defines several (as `cui start --object`).
   * The manifest records it, and an import of the version binds it unless it names another.
   */
  readonly object?: string;
  /** Test hook: called at named points so tests can crash the process there. */
  readonly checkpoint?: (name: string) => void | Promise<void>;
}

export interface PublishResult {
  readonly version: number;
  readonly manifest: Manifest;
}

/** Removes tmp/ entries of publishers on this host whose process is gone. */
async function sweepTemp(tmpDir: string): Promise<void> {
  for (const name of await readdir(tmpDir).catch(() => [] as string[])) {
    const pid = Number(/^([0-9]+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && !processExists(pid))
      await rm(join(tmpDir, name), { recursive: true, force: true });
  }
}

async function sha256File(path: string): Promise<{ size: number; sha256: string }> {
  const bytes = await readFile(path);
  return { size: bytes.length, sha256: hash("sha256", bytes, "hex") };
}

interface Payload {
  disks: Disk[];
  /** What to remember about a directory image's files, or disk images, for the next publish. */
  quick?: Array<QuickCheck | ImageQuickCheck>;
  machine?: MachineSpec;
  files: string[];
}

async function storeDisks(
  definition: ApplianceDefinition,
  cvlPath: string,
  store: ChunkStore,
  tempDir: string,
  repoDir: string,
  progress?: (bytes: number) => void,
): Promise<Payload> {
  const root = dirname(cvlPath);
  const files = [cvlPath];
  if (definition.kind === "container") {
    const image = await resolveInside(root, root, definition.image!, `${cvlPath}: image`);
    const tree = new TreeBuilder(image);
    const quick = await QuickCheck.load(repoDir, image);
    const usage = store.track();
    const { config, fingerprint, unchanged } = await addContainerImage(
      { path: image, tempDir, quick, ...(progress ? { progress } : {}) },
      store,
      tree,
    );
    let stored: Omit<StoredTree, "packs">;
    const withConfig = config === undefined ? {} : { config };
    if (unchanged !== undefined) {
      // Field by field: the record read back also carries its fingerprint, paths and format.
      const { size, entries, listing, chunks } = unchanged;
      stored = { size, entries, listing, chunks, ...withConfig };
    } else {
      const entries = tree.finish();
      const listing = await store.putStream(serializeListing(entries));
      stored = { size: tree.size, entries: entries.length, listing, chunks: usage.chunks(), ...withConfig };
    }
    if (fingerprint !== undefined) quick.recordTree(fingerprint, stored, usage.packs);
    const { size, entries, listing } = stored;
    const disk: Disk = { name: "root", shape: "tree", size, entries, listing, ...withConfig };
    return { disks: [disk], files, quick: [quick] };
  }
  if (definition.kind === "vm") {
    const descriptorPath = await resolveInside(root, root, definition.vm!, `${cvlPath}: vm`);
    files.push(descriptorPath);
    const descriptor = await readVmDescriptor(descriptorPath);
    const disks: Disk[] = [];
    const quick: ImageQuickCheck[] = [];
    for (const { device, file } of descriptor.disks) {
      if (definition.datadisks.includes(device)) continue; // user data: never stored
      const path = await resolveInside(root, dirname(descriptorPath), file, `${descriptorPath}: ${device}`);
      quick.push(await ImageQuickCheck.load(repoDir, path));
      disks.push(
        await addBlockImage(
          { name: device, path, tempDir, quick: quick.at(-1)!, ...(progress ? { progress } : {}) },
          store,
        ),
      );
    }
    return { disks, machine: descriptor.machine, files, quick };
  }
  return { disks: [], files };
}

export async function publish(options: PublishOptions): Promise<PublishResult> {
  const { repoDir, checkpoint } = options;
  const descriptor = await readLocalDescriptor(repoDir);
  const publisher: Publisher = await loadPublisherKey(options.keyPath);
  if (!descriptor.keys.includes(publisher.publicKey)) {
    throw new CollectiveError(
      "KEY_NOT_PUBLISHER",
      `the key ${options.keyPath} (${publisher.publicKey}) is not a publisher key of ${repoDir}`,
      {
        hint: `use the key the repository was created with (its keys: ${descriptor.keys.join(", ")})`,
      },
    );
  }
  const cvlInfo = await stat(options.cvlPath).catch(() => undefined);
  if (!cvlInfo?.isFile()) {
    throw new CollectiveError("CVL_MISSING", `${options.cvlPath} is not a readable file`, {
      hint: "give the path of the appliance's .cvl file",
    });
  }
  const definition = await readApplianceDefinition(options.cvlPath, {
    ...(options.resolver ? { resolver: options.resolver } : {}),
    ...(options.object !== undefined ? { object: options.object } : {}),
  });
  const tmpDir = join(repoDir, "tmp");
  const tempDir = join(tmpDir, ChunkStore.tempName());
  try {
    await mkdir(tmpDir, { recursive: true });
    await sweepTemp(tmpDir);
    await mkdir(tempDir);
  } catch (error) {
    // tmp/ not a directory, a read-only filesystem, a full disk: named, as every later failure is.
    throw wrapIoError(error, repoDir);
  }
  const store = await ChunkStore.open(repoDir, tempDir);
  try {
    await checkpoint?.("start");
    const payload = await storeDisks(definition, options.cvlPath, store, tempDir, repoDir, options.progress);
    await checkpoint?.("disks-stored");
    const packs = await store.seal();
    await checkpoint?.("packs-written");
    const versionDir = join(tempDir, "version");
    const stored: StoredFile[] = [];
    let fileBytes = 0;
    for (const file of payload.files) {
      const path = await relativeInside(dirname(options.cvlPath), file);
      const target = join(versionDir, "files", path);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(file, target);
      const { size, sha256 } = await sha256File(target);
      stored.push({ path, size, sha256 });
      fileBytes += size;
    }
    const base = {
      format: MANIFEST_FORMAT,
      formatVersion: FORMAT_VERSION,
      repository: descriptor.id,
      created: new Date().toISOString(),
      signer: publisher.publicKey,
      appliance: { name: definition.name, kind: definition.kind, cvl: basename(options.cvlPath) },
      files: stored,
      disks: payload.disks,
      ...(payload.machine ? { machine: payload.machine } : {}),
      packs,
      stats: {
        logicalBytes: payload.disks.reduce((sum, d) => sum + d.size, 0),
        chunks: store.stats.chunks,
        newChunks: store.stats.newChunks,
        newBytes: store.stats.newBytes + fileBytes,
      },
    } as const;
    await checkpoint?.("before-commit");
    const version = await withPublishLock(repoDir, async () => {
      let candidate = ((await localVersions(repoDir)).at(-1) ?? 0) + 1;
      try {
        for (;;) {
          const manifest: Manifest = { ...base, version: candidate };
          const bytes = encodeManifest(manifest);
          await writeFileAtomic(join(versionDir, "manifest.json"), bytes);
          await writeFileAtomic(
            join(versionDir, "manifest.sig"),
            signManifest(bytes, publisher.privateKey, publisher.publicKey),
          );
          await syncDirectory(versionDir);
          await checkpoint?.("signed");
          // Only now, with everything else written, do the new packs and objects enter the repository.
          await store.install();
          await store.checkInstalled();
          await checkpoint?.("installed");
          try {
            await rename(versionDir, join(repoDir, "versions", String(candidate)));
            break;
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
            candidate++; // someone else took this number: never overwrite, take the next
          }
        }
      } catch (error) {
        // Still under the lock: no other publisher has committed a version that uses what this one
        // installed (checkInstalled), so removing it again cannot break one.
        await store.abort();
        throw error;
      }
      store.keep(); // a version refers to them now
      try {
        await syncDirectory(join(repoDir, "versions"));
        await checkpoint?.("renamed");
        const latest = (await localVersions(repoDir)).at(-1) ?? candidate;
        await writeFileAtomic(
          join(repoDir, paths.latest),
          `${JSON.stringify({ version: latest, updated: new Date().toISOString() })}\n`,
        );
        await rebuildFeed(repoDir, descriptor);
      } catch (error) {
        if (error instanceof CollectiveError) throw error;
        // The version is there: saying "nothing was published" would be false.
        throw new CollectiveError(
          "PUBLISH_INDEX",
          `version ${candidate} was published into ${repoDir}, but latest.json or feed.xml could not be rewritten: ${(error as Error).message}`,
          {
            hint: "Readers find the version anyway (they look past latest.json); the next publish rewrites both. Free space or fix the repository's permissions.",
            cause: error,
          },
        );
      }
      return candidate;
    });
    // Only now are the records of the directory's files and of the images true of a published version.
    for (const record of payload.quick ?? []) await record.save().catch(() => undefined);
    const manifest = JSON.parse(await readFile(join(repoDir, paths.manifest(version)), "utf8")) as Manifest;
    return { version, manifest };
  } catch (error) {
    await store.abort();
    throw wrapIoError(error, repoDir);
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}

function wrapIoError(error: unknown, repoDir: string): unknown {
  if (error instanceof CollectiveError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new CollectiveError("DISK_FULL", `the disk holding ${repoDir} is full; nothing was published`, {
      hint: "free space (or move the repository) and publish again",
      cause: error,
    });
  }
  if (typeof code === "string") {
    return new CollectiveError(
      "PUBLISH_IO",
      `publishing into ${repoDir} failed on ${hostname()}: ${(error as Error).message}; nothing was published`,
      { cause: error },
    );
  }
  return error;
}
