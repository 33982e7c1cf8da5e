/** Regenerates a repository's feed.xml from its manifests (called by publish, under the lock). */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { readRegularFile } from "../fs-safety/regular-file.js";
import { type FeedItem, generateFeed } from "./feed.js";
import {
  type ApplianceKind,
  FORMAT_VERSION,
  MANIFEST_FORMAT,
  type Manifest,
  paths,
  type RepoDescriptor,
} from "./format.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { isRecord, isSize } from "./manifest-shape.js";
import { localVersions } from "./repo-layout.js";

const KINDS: readonly ApplianceKind[] = ["container", "vm", "van"];

/**
 * Whether parsed JSON is a manifest of this format in every field the feed lists (appliance name and
 * kind, date, signer, sizes). Valid JSON that is none (null, [], {}, another format's manifest) is skipped
 * like a manifest that does not parse: the feed lists what publish wrote, and damage is `cui repo
 * verify`'s business, not a reason to fail the publish or withdrawal that rebuilds the feed.
 */
export function isFeedManifest(value: unknown): value is Manifest {
  if (!isRecord(value)) return false;
  const { appliance, stats } = value;
  return (
    value.format === MANIFEST_FORMAT &&
    value.formatVersion === FORMAT_VERSION &&
    typeof value.created === "string" &&
    typeof value.signer === "string" &&
    isRecord(appliance) &&
    typeof appliance.name === "string" &&
    KINDS.includes(appliance.kind as ApplianceKind) &&
    isRecord(stats) &&
    isSize(stats.logicalBytes) &&
    isSize(stats.newBytes)
  );
}

/** A version's manifest when it is one the feed can list; undefined when unreadable or malformed. */
async function readFeedManifest(repoDir: string, version: number): Promise<Manifest | undefined> {
  const path = join(repoDir, paths.manifest(version));
  let data: unknown;
  try {
    // Not a plain readFile: a FIFO or a device in its place would block the publish (or never end).
    const bytes = await readRegularFile(path, (kind) => new Error(`${path} is ${kind}`));
    data = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined; // an unreadable manifest is `cui repo verify`'s business, not the feed's
  }
  return isFeedManifest(data) ? data : undefined;
}

export async function rebuildFeed(repoDir: string, descriptor: RepoDescriptor): Promise<void> {
  const items: FeedItem[] = [];
  let title = "Collective repository";
  for (const version of await localVersions(repoDir)) {
    const manifest = await readFeedManifest(repoDir, version);
    if (manifest === undefined) continue;
    // stat, not a read: only whether the notice is there counts here, and a FIFO must not block.
    const withdrawn = await stat(join(repoDir, paths.withdrawal(version))).then(
      (info) => info.isFile(),
      () => false,
    );
    title = manifest.appliance.name;
    items.push({
      name: manifest.appliance.name,
      version,
      kind: manifest.appliance.kind,
      repository: ".",
      repositoryId: descriptor.id,
      date: manifest.created,
      signer: manifest.signer,
      size: manifest.stats.logicalBytes,
      newBytes: manifest.stats.newBytes,
      ...(withdrawn ? { withdrawn } : {}),
    });
  }
  await writeFileAtomic(
    join(repoDir, paths.feed),
    generateFeed({ title, link: ".", repository: "." }, items),
  );
}
