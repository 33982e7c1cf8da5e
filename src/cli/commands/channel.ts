import type { Command } from "commander";
import { printJson } from "../output.js";

export function registerChannel(program: Command): void {
  const channel = program
    .command("channel")
    .description("build and read channels: RSS feeds of the versions of several repositories")
    .addHelpText(
      "after",
      `
A channel is an RSS 2.0 feed (as STORM's channel servers published) with one item per version of each
repository, and Collective's fields (repository URL, version, signer, sizes) in the namespace
urn:collective:feed:1. Every repository also publishes its own feed.xml.`,
    );
  channel
    .command("build")
    .description("write a channel feed listing every version of the given repositories")
    .argument("<out.xml>", "the channel file to write")
    .argument("<repo-url...>", "repositories: paths, file://, http:// or https:// URLs")
    .option("--title <text>", "the channel's title", "Collective channel")
    .addHelpText(
      "after",
      `
Only versions whose signatures verify are listed. Serve the file with any web server.

Example:
  cui channel build /srv/www/channel.xml https://apps.example.org/dns https://apps.example.org/mail`,
    )
    .action(async (out: string, urls: string[], options: { title: string }) => {
      const { buildChannel, channelOutputPath } = await import("../../repo/channel.js");
      const { writeFileAtomic } = await import("../../repo/fs-atomic.js");
      const { CollectiveError } = await import("../../errors.js");
      const target = await channelOutputPath(out);
      const { xml, items, repositories } = await buildChannel(urls, options.title);
      await writeFileAtomic(target, xml).catch((error: NodeJS.ErrnoException) => {
        throw new CollectiveError("CHANNEL_WRITE", `cannot write the channel ${out}: ${error.message}`, {
          hint: "name a file in a directory you may write (the directory must exist)",
          cause: error,
        });
      });
      process.stdout.write(`wrote ${out}: ${items.length} versions of ${repositories} repositories\n`);
    });
  channel
    .command("list")
    .description("list the appliances and versions a channel (or a repository's feed.xml) offers")
    .argument("<channel-url-or-file>", "a path, file://, http:// or https:// URL")
    .option("--json", "print the items as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  cui channel list channel.xml\n  cui channel list https://apps.example.org/channel.xml --json",
    )
    .action(async (location: string, options: { json?: boolean }) => {
      const { readChannel } = await import("../../repo/channel.js");
      const { formatBytes } = await import("../../repo/feed.js");
      const { title, items } = await readChannel(location);
      if (options.json) {
        printJson({ title, items });
        return;
      }
      const rows = items.map((i) => [
        i.name,
        String(i.version),
        i.kind,
        i.date.slice(0, 10),
        formatBytes(i.size),
        i.repository,
        i.withdrawn ? "withdrawn" : "",
      ]);
      const header = ["APPLIANCE", "VERSION", "KIND", "DATE", "SIZE", "REPOSITORY", ""];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [header, ...rows])
        process.stdout.write(
          `${row
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd()}\n`,
        );
    });
}
