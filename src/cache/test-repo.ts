/**
 * For tests: a real repository made the way makers make one (create, then publish CVL files), holding a
 * container appliance (a tree) or a VM appliance (a block image) whose content each test chooses.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ChunkStore } from "../repo/chunk-store.js";
import { FORMAT_VERSION, MANIFEST_FORMAT, type Manifest, paths } from "../repo/format.js";
import { loadOrCreatePublisherKey, loadPublisherKey } from "../repo/keys.js";
import { encodeManifest, signManifest } from "../repo/manifest.js";
import { publish } from "../repo/publish.js";
import { createRepository, localVersions, readLocalDescriptor } from "../repo/repo-layout.js";

export interface TestRepo {
  readonly dir: string;
  /** Publishes the directory `rootfs` as the next version of a container appliance. */
  publishTree(rootfs: string): Promise<number>;
  /** Publishes the raw image `image` as the next version of a VM appliance (device virtio0). */
  publishImage(image: string): Promise<number>;
  /**
   * Signs and stores a version whose tree listing is exactly `lines` (JSON Lines, as a hostile publisher
   * could write them), with `contents` stored as chunks; a line's "chunks" may name a content by key as
   * "@key". The publisher's key is the repository's, so only the listing is wrong.
   */
  publishListing(
    lines: ReadonlyArray<Record<string, unknown>>,
    contents?: Record<string, string>,
  ): Promise<number>;
}

export async function makeTestRepo(scratch: string): Promise<TestRepo> {
  const dir = join(scratch, "repo");
  const keyPath = join(scratch, "publisher.key");
  const { publicKey } = await loadOrCreatePublisherKey(keyPath);
  await createRepository(dir, publicKey);
  const sources = join(scratch, "sources");
  await mkdir(sources, { recursive: true });
  let serial = 0;
  const publishCvl = async (cvl: string): Promise<number> => {
    const cvlPath = join(sources, `v${++serial}.cvl`);
    await writeFile(cvlPath, cvl);
    return (await publish({ repoDir: dir, cvlPath, keyPath })).version;
  };
  return {
    dir,
    publishTree: (rootfs) =>
      publishCvl(`Web extends ContainerAppliance { image = "${relativeTo(sources, rootfs)}"; }\n`),
    publishImage: async (image) => {
      const descriptor = join(sources, `vm${serial + 1}.json`);
      const file = relativeTo(sources, image);
      await writeFile(
        descriptor,
        JSON.stringify({
          format: "collective-vm",
          memoryMiB: 256,
          cpus: 1,
          disks: [{ device: "virtio0", file }],
        }),
      );
      return publishCvl(`Box extends VMAppliance { vm = "vm${serial + 1}.json"; }\n`);
    },
    publishListing: async (lines, contents = {}) => {
      const tempDir = join(scratch, `listing-${++serial}`);
      await mkdir(tempDir);
      const store = await ChunkStore.open(dir, tempDir);
      const hashes: Record<string, string> = {};
      for (const [key, text] of Object.entries(contents))
        hashes[`@${key}`] = await store.put(Buffer.from(text));
      const resolved = lines.map((line) =>
        Array.isArray(line.chunks)
          ? { ...line, chunks: line.chunks.map((c: string) => hashes[c] ?? c) }
          : line,
      );
      const listing = await store.putStream(
        Buffer.from(resolved.map((line) => `${JSON.stringify(line)}\n`).join("")),
      );
      const packs = await store.finish();
      await rm(tempDir, { recursive: true, force: true });
      const descriptor = await readLocalDescriptor(dir);
      const publisher = await loadPublisherKey(keyPath);
      const version = ((await localVersions(dir)).at(-1) ?? 0) + 1;
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        formatVersion: FORMAT_VERSION,
        repository: descriptor.id,
        version,
        created: new Date().toISOString(),
        signer: publisher.publicKey,
        appliance: { name: "hostile", kind: "container", cvl: "hostile.cvl" },
        files: [],
        disks: [{ name: "root", shape: "tree", size: 0, entries: lines.length, listing }],
        packs,
        stats: { logicalBytes: 0, chunks: 0, newChunks: 0, newBytes: 0 },
      };
      const bytes = encodeManifest(manifest);
      await mkdir(join(dir, "versions", String(version)), { recursive: true });
      await writeFile(join(dir, paths.manifest(version)), bytes);
      await writeFile(
        join(dir, paths.signature(version)),
        signManifest(bytes, publisher.privateKey, publisher.publicKey),
      );
      await writeFile(join(dir, paths.latest), JSON.stringify({ version, updated: manifest.created }));
      return version;
    },
  };
}

/** Sources must lie inside the CVL file's directory; tests keep them in scratch/sources. */
function relativeTo(sources: string, path: string): string {
  if (!path.startsWith(`${sources}/`)) throw new Error(`test source ${path} must be under ${sources}`);
  return path.slice(sources.length + 1);
}
