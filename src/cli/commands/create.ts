import type { Command } from "commander";
import { printJson } from "../output.js";

export function registerCreate(program: Command): void {
  program
    .command("create")
    .description("create an empty appliance repository, and the publisher's signing key if there is none")
    .argument("<dir>", "directory for the repository (created; must be new or empty)")
    .option(
      "--key <path>",
      "the publisher's ed25519 private key (default: $COLLECTIVE_PUBLISHER_KEY or ~/.config/collective/publisher.key)",
    )
    .option("--json", "print the repository's id, key and path as JSON")
    .addHelpText(
      "after",
      `
A repository is a directory of static files holding versions 1..N of one appliance; serve it with any
web server or 'cui repo serve'. The format is described in docs/repository-format.md.

The publisher's key is created (mode 0600) when the key file does not exist, and is never stored in the
repository: only its public half is, in repo.json. Keep the key file safe: whoever has it can publish.

Examples:
  cui create /srv/repos/dns
  cui create --key ./keys/acme.key /srv/repos/dns`,
    )
    .action(async (dir: string, options: { key?: string; json?: boolean }) => {
      const { defaultKeyPath, loadOrCreatePublisherKey } = await import("../../repo/keys.js");
      const { createRepository } = await import("../../repo/repo-layout.js");
      const keyPath = options.key ?? defaultKeyPath();
      const publisher = await loadOrCreatePublisherKey(keyPath);
      const descriptor = await createRepository(dir, publisher.publicKey);
      if (options.json) {
        printJson({
          repository: dir,
          id: descriptor.id,
          key: publisher.publicKey,
          keyPath,
          keyCreated: publisher.created,
        });
        return;
      }
      if (publisher.created) process.stderr.write(`created the publisher key ${keyPath}\n`);
      process.stdout.write(`created repository ${dir}\npublisher key: ${publisher.publicKey}\n`);
    });
}
