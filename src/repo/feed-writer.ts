/** Regenerates a repository's feed.xml from its manifests (called by publish, under the lock). */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type FeedItem, generateFeed } from "./feed.js";
import { type Manifest, paths, type RepoDescriptor } from "./format.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { localVersions } from "./repo-layout.js";

export async function rebuildFeed(repoDir: string, descriptor: RepoDescriptor): Promise<void> {
  const items: FeedItem[] = [];
  let title = "Collective repository";
  for (const version of await localVersions(repoDir)) {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await readFile(join(repoDir, paths.manifest(version)), "utf8")) as Manifest;
    } catch {
      continue; // an unreadable manifest is `cui repo verify`'s business, not the feed's
    }
    const withdrawn = await readFile(join(repoDir, paths.withdrawal(version))).then(
      () => true,
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
