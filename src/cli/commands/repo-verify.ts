import type { Command } from "commander";
import { ExitCode, printJson } from "../output.js";

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
    .description("check every manifest signature and every chunk of a repository; report each problem")
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

Exit status: 0 when the repository is sound, 1 when any problem was found.

Examples:
  cui repo verify /srv/repos/dns
  cui repo verify https://apps.example.org/dns --key ed25519:Kq3n...`,
    )
    .action(async (url: string, options: { key?: string; json?: boolean }) => {
      const { openTransport } = await import("../../repo/open-transport.js");
      const { RepoReader } = await import("../../repo/repo-reader.js");
      const { verifyRepository } = await import("../../repo/verify.js");
      const { parsePublicKey } = await import("../../repo/keys.js");
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
          const summary = `${report.repository}: ${report.versions} versions, ${report.packs} packs, ${report.chunks} chunks checked, ${report.problems.length} problems`;
          (report.problems.length > 0 ? process.stderr : process.stdout).write(`${summary}\n`);
        }
        process.exitCode = report.problems.length > 0 ? ExitCode.failed : ExitCode.ok;
      } finally {
        (transport as { close?: () => void }).close?.();
      }
    });
}
