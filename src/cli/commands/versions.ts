import type { Command } from "commander";
import { ExitCode, printJson } from "../output.js";

export function registerVersions(program: Command): void {
  program
    .command("versions")
    .description("list the versions of a repository, each with its signature checked")
    .argument("<repo-url>", "the repository: a path, file://, http:// or https:// URL")
    .option("--json", "print the list as JSON")
    .addHelpText(
      "after",
      `
Columns: version, date published, kind, size of the program disks, bytes new in that version (what a
host holding the previous version fetches, at most), the signer's key, and whether it was withdrawn.
A version whose manifest does not verify is listed with the problem, and the exit status is 1.

Examples:
  cui versions /srv/repos/dns
  cui versions https://apps.example.org/dns --json`,
    )
    .action(async (url: string, options: { json?: boolean }) => {
      const { openTransport } = await import("../../repo/open-transport.js");
      const { RepoReader } = await import("../../repo/repo-reader.js");
      const { listVersions } = await import("../../repo/versions.js");
      const { formatBytes } = await import("../../repo/feed.js");
      const transport = openTransport(url);
      try {
        const versions = await listVersions(new RepoReader(transport));
        if (options.json) printJson({ repository: transport.url, versions });
        else if (versions.length === 0) process.stdout.write(`${transport.url} has no versions yet\n`);
        else {
          const rows = versions.map((v) =>
            v.error
              ? [String(v.version), "INVALID", v.error]
              : [
                  String(v.version),
                  v.date.replace("T", " ").replace(/\.\d+Z$/, "Z"),
                  v.kind,
                  formatBytes(v.size),
                  formatBytes(v.newBytes),
                  v.signer,
                  v.withdrawn ? "withdrawn" : "",
                ],
          );
          const header = ["VERSION", "DATE", "KIND", "SIZE", "NEW", "SIGNER", ""];
          const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
          for (const row of [header, ...rows])
            process.stdout.write(
              `${row
                .map((c, i) => (c ?? "").padEnd(widths[i]!))
                .join("  ")
                .trimEnd()}\n`,
            );
        }
        process.exitCode = versions.some((v) => v.error) ? ExitCode.failed : ExitCode.ok;
      } finally {
        (transport as { close?: () => void }).close?.();
      }
    });
}
