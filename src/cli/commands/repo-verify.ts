import type { Command } from "commander";
import { ExitCode, printJson } from "../output.js";

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** `cui repo` is shared with `cui repo serve` (another module): find it or create it. */
function repoCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "repo") ??
    program.command("repo").description("work on repositories: verify them, serve them over HTTP")
  );
}

export function registerRepoVerify(program: Command): void {
  repoCommand(program)
    .command("verify")
    .description(
      "check every manifest signature and every chunk of a repository; report each problem and unreferenced packs and objects",
    )
    .argument("<dir-or-url>", "the repository: a path, file://, http:// or https:// URL")
    .option("--key <ed25519:...>", "require every version to be signed by this key")
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      `
Checks: each version's manifest signature, signer and number; the CVL and descriptor files against
their hashes; every pack index against its name; every chunk of every pack a version uses (decompressed
and hashed); and that every chunk a version refers to is in one of its packs. Each problem is printed as
  <repository> version N [pack P] [chunk C]: what is wrong

Then, for a repository in a local directory, it lists the files in packs/ and objects/ that no version
refers to (left by a publish that crashed, or by an older cui), each as a warning with its size:
  warning: <repository>: unreferenced packs/<id>.pack (1.2 MiB): no version refers to it
and their total. They only waste space: no version is wrong because of them. To reclaim it, remove
them while no publish is running (a later publish may reuse their chunks; verify again just before).
While listing them it takes the publish lock (locks/publish.lock; it waits for a publish that holds it,
up to a minute), so that the packs of a publish in flight, which enter packs/ just before its version
appears, are never taken for debris. They are not listed for a repository over HTTP (a web server does
not list directories), when a version could not be read, or when the lock cannot be taken; the last
line says so.

The last line sums it up:
  <repository>: V versions, P packs, C chunks checked, N problems, U unreferenced files (SIZE)
--json prints the report: "problems", "unreferenced" ({ files: [{ path, size }], bytes, and "skipped"
with the reason when they were not listed}) and "ok" (no problems; unreferenced files do not count).

Exit status: 0 when the repository is sound (unreferenced files or not), 1 when any problem was found.

Examples:
  cui repo verify /srv/repos/dns
  cui repo verify https://apps.example.org/dns --key ed25519:Kq3n...`,
    )
    .action(async (url: string, options: { key?: string; json?: boolean }) => {
      const { openTransport } = await import("../../repo/open-transport.js");
      const { RepoReader } = await import("../../repo/repo-reader.js");
      const { verifyRepository } = await import("../../repo/verify.js");
      const { parsePublicKey } = await import("../../repo/keys.js");
      const { formatBytes } = await import("../../repo/feed.js");
      if (options.key !== undefined) parsePublicKey(options.key);
      const transport = openTransport(url);
      try {
        const report = await verifyRepository(
          new RepoReader(transport),
          options.key ? { pinnedKey: options.key } : {},
        );
        if (options.json) printJson(report);
        else {
          for (const p of report.problems) {
            const where = [
              p.repository,
              p.version ? `version ${p.version}` : "",
              p.pack ? `pack ${p.pack}` : "",
              p.chunk ? `chunk ${p.chunk}` : "",
            ]
              .filter(Boolean)
              .join(" ");
            // Most messages name the repository and version themselves: then they are printed as they are.
            const named =
              p.message.startsWith(`${p.repository} `) || p.message.startsWith(`${p.repository}:`);
            process.stderr.write(named ? `${p.message}\n` : `${where}: ${p.message}\n`);
          }
          const { unreferenced } = report;
          for (const f of unreferenced.files)
            process.stderr.write(
              `warning: ${report.repository}: unreferenced ${f.path} (${formatBytes(f.size)}): no version refers to it\n`,
            );
          if (unreferenced.files.length > 0) {
            process.stderr.write(
              `warning: ${report.repository}: ${plural(unreferenced.files.length, "unreferenced file")}, ${formatBytes(unreferenced.bytes)} in all\n` +
                "  they waste space but no version needs them (a publish that crashed, or an older cui, left them); to reclaim it, remove them while no publish is running (a later publish may reuse their chunks: verify again just before)\n",
            );
          }
          const orphans =
            unreferenced.skipped !== undefined
              ? `; unreferenced files ${unreferenced.skipped}`
              : `, ${plural(unreferenced.files.length, "unreferenced file")}${unreferenced.files.length > 0 ? ` (${formatBytes(unreferenced.bytes)})` : ""}`;
          const summary = `${report.repository}: ${report.versions} versions, ${report.packs} packs, ${report.chunks} chunks checked, ${report.problems.length} problems${orphans}`;
          (report.ok ? process.stdout : process.stderr).write(`${summary}\n`);
        }
        // Unreferenced files are a warning: only problems fail.
        process.exitCode = report.ok ? ExitCode.ok : ExitCode.failed;
      } finally {
        (transport as { close?: () => void }).close?.();
      }
    });
}
