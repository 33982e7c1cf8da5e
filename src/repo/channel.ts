/** Channels: one RSS 2.0 feed listing the versions of several repositories (STORM's channel servers). */
import { lstat, readFile, realpath, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CollectiveError } from "../errors.js";
import { fileKind } from "../fs-safety/regular-file.js";
import { type FeedItem, generateFeed, parseFeed } from "./feed.js";
import { openTransport, unsupportedScheme } from "./open-transport.js";
import { RepoReader } from "./repo-reader.js";
import { listVersions } from "./versions.js";

/** Builds a channel feed from repositories; every listed version is one whose signature verified. */
export async function buildChannel(
  urls: readonly string[],
  title = "Collective channel",
): Promise<{ xml: string; items: FeedItem[]; repositories: number }> {
  const items: FeedItem[] = [];
  const seen = new Set<string>();
  for (const url of urls) {
    const transport = openTransport(url);
    // The same repository named twice (or by a path and its file:// URL) is listed once.
    if (seen.has(transport.url)) {
      (transport as { close?: () => void }).close?.();
      continue;
    }
    seen.add(transport.url);
    try {
      const reader = new RepoReader(transport);
      const descriptor = await reader.descriptor();
      for (const v of await listVersions(reader)) {
        if (v.error) continue;
        items.push({
          name: v.name,
          version: v.version,
          kind: v.kind,
          repository: transport.url,
          repositoryId: descriptor.id,
          date: v.date,
          signer: v.signer,
          size: v.size,
          newBytes: v.newBytes,
          ...(v.withdrawn ? { withdrawn: true } : {}),
        });
      }
    } finally {
      (transport as { close?: () => void }).close?.();
    }
  }
  return {
    xml: generateFeed(
      { title, link: ".", repository: "", description: `Appliances from ${seen.size} repositories` },
      items,
    ),
    items,
    repositories: seen.size,
  };
}

/**
 * Where `cui channel build` writes `out`: the file is replaced atomically (a new file renamed over it), so
 * `out` must be a regular file or nothing yet. A symlink is followed to the file it names (replacing the
 * link instead would surprise whoever set it up). Anything else is refused: as root, renaming over
 * /dev/null replaced the device with a plain file.
 */
export async function channelOutputPath(out: string): Promise<string> {
  const refuse = (what: string): CollectiveError =>
    new CollectiveError("CHANNEL_WRITE", `cannot write the channel ${out}: it is ${what}, not a file`, {
      hint: "name a regular file, or a new file in an existing directory",
    });
  const entry = await lstat(out).catch(() => undefined);
  if (entry === undefined || entry.isFile()) return out;
  if (!entry.isSymbolicLink()) throw refuse(fileKind(entry));
  const target = await stat(out).catch(() => undefined);
  if (target === undefined) throw refuse("a symlink to nothing");
  if (!target.isFile()) throw refuse(`a symlink to ${fileKind(target)}`);
  return realpath(out);
}

/** Reads a channel (or repository feed) from a path, file:// or http(s):// URL. */
export async function readChannel(location: string): Promise<{ title: string; items: FeedItem[] }> {
  let text: string;
  if (/^https?:\/\//i.test(location)) {
    let response: Response;
    try {
      response = await fetch(location, { redirect: "error", signal: AbortSignal.timeout(30_000) });
    } catch (error) {
      throw new CollectiveError(
        "CHANNEL_UNREACHABLE",
        `cannot fetch the channel ${location}: ${(error as Error).message}`,
      );
    }
    if (!response.ok)
      throw new CollectiveError(
        "CHANNEL_UNREACHABLE",
        `${location} answered ${response.status} ${response.statusText}`,
      );
    text = await response.text();
  } else {
    if (unsupportedScheme(location))
      throw new CollectiveError(
        "CHANNEL_UNREACHABLE",
        `cannot read the channel ${location}: the scheme ${location.split(":")[0]}: is not supported`,
        { hint: "Use a path, file:///path, http://host/path or https://host/path." },
      );
    const path = location.startsWith("file://") ? fileURLToPath(location) : location;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      throw new CollectiveError(
        "CHANNEL_UNREADABLE",
        `cannot read the channel ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
  }
  const { channel, items } = parseFeed(text, location);
  return { title: channel.title, items };
}
