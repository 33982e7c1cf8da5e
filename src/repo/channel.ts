/** Channels: one RSS 2.0 feed listing the versions of several repositories (STORM's channel servers). */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CollectiveError } from "../errors.js";
import { type FeedItem, generateFeed, parseFeed } from "./feed.js";
import { openTransport } from "./open-transport.js";
import { RepoReader } from "./repo-reader.js";
import { listVersions } from "./versions.js";

/** Builds a channel feed from repositories; every listed version is one whose signature verified. */
export async function buildChannel(
  urls: readonly string[],
  title = "Collective channel",
): Promise<{ xml: string; items: FeedItem[] }> {
  const items: FeedItem[] = [];
  for (const url of urls) {
    const transport = openTransport(url);
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
      { title, link: ".", repository: "", description: `Appliances from ${urls.length} repositories` },
      items,
    ),
    items,
  };
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
