import type { Command } from "commander";

/** `cui repo` is shared with other modules: find it or create it. */
function repoCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "repo") ??
    program.command("repo").description("work on repositories: verify them, serve them over HTTP")
  );
}

export function registerRepoWithdraw(program: Command): void {
  repoCommand(program)
    .command("withdraw")
    .description("mark a version as withdrawn (signed); it stays readable but is no longer chosen as latest")
    .argument("<dir>", "the repository directory")
    .argument("<version>", "the version to withdraw")
    .option("--reason <text>", "why, shown in the feed and to users")
    .option(
      "--key <path>",
      "the publisher's private key (default: $COLLECTIVE_PUBLISHER_KEY or ~/.config/collective/publisher.key)",
    )
    .addHelpText(
      "after",
      `
Versions are never changed or deleted: instances running a withdrawn version keep working, imports
without a version resolve to the newest version that is not withdrawn, and 'cui versions' and the feed
show it as withdrawn. The notice is signed with the publisher's key; unsigned notices are ignored.

Example:
  cui repo withdraw /srv/repos/dns 7 --reason "CVE-2026-1234"`,
    )
    .action(async (dir: string, version: string, options: { reason?: string; key?: string }) => {
      const { CollectiveError } = await import("../../errors.js");
      if (!/^[1-9][0-9]*$/.test(version)) {
        throw new CollectiveError("BAD_VERSION", `"${version}" is not a version number`, {
          hint: "give a positive whole number",
          exitCode: 2,
        });
      }
      const { defaultKeyPath } = await import("../../repo/keys.js");
      const { withdrawVersion } = await import("../../repo/withdraw.js");
      await withdrawVersion(dir, Number(version), options.key ?? defaultKeyPath(), options.reason);
      process.stdout.write(`withdrew version ${version} of ${dir}\n`);
    });
}
