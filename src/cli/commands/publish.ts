import type { Command } from "commander";
import { printJson } from "../output.js";

export function registerPublish(program: Command): void {
  program
    .command("publish")
    .description("store an appliance as the next version of a repository and print the version number")
    .argument("<dir>", "the repository (a directory made by 'cui create')")
    .argument("<file.cvl>", "the appliance's CVL file; the image or vm it names is relative to it")
    .option(
      "--key <path>",
      "the publisher's private key (default: $COLLECTIVE_PUBLISHER_KEY or ~/.config/collective/publisher.key)",
    )
    .option(
      "--object <name>",
      "the object of the file that is the appliance, when it defines several (recorded in the version: an import of it binds this object unless it names another)",
    )
    .option("--json", "print the version, its size and the bytes it added as JSON")
    .addHelpText(
      "after",
      `
Stores the CVL file, the descriptor files it names and the program disks:
  ContainerAppliance image: a root filesystem directory, a .tar or .tar.gz, an OCI image layout
    directory, or a docker save / OCI archive (layers applied with whiteouts; the image's entrypoint,
    cmd, env, working directory and user are kept as defaults);
  VMAppliance vm: a VMware .vmx or a Collective JSON descriptor (docs/repositories.md) whose disks
    (raw, qcow2, vmdk) are stored as block images, except the devices listed in datadisks;
  a VAN: only its CVL file.
The appliance is the file's one appliance that no other object in it extends or uses; a file that
defines several needs --object NAME. The version records the name, and an import of the version binds
that object unless the import names another with object => "Name".
Only chunks the repository does not have are stored. The version appears atomically: if publishing
fails or is interrupted, no version is left behind. Concurrent publishers get consecutive numbers.
Progress is shown on stderr when it is a terminal.
Publishing the same paths again is quick: a file or disk image whose size, times and inode are those of
the last publish from its path is not read again, and a directory or archive in which nothing changed
is taken whole from that publish. What changed while (or just before) it was read is read again next time.
The records are in <dir>/tmp/quick-check/; remove it to read everything again.

Exit status: 0 when the version was published, 1 otherwise.

Examples:
  cui publish /srv/repos/dns dns.cvl
  cui publish --object Db /srv/repos/db stack.cvl     # the file also defines Web
  v=$(cui publish /srv/repos/dns dns.cvl) && echo "published version $v"`,
    )
    .action(async (dir: string, cvl: string, options: { key?: string; object?: string; json?: boolean }) => {
      const { defaultKeyPath } = await import("../../repo/keys.js");
      const { publish } = await import("../../repo/publish.js");
      const { importResolver } = await import("../../import-resolver.js");
      const { formatBytes } = await import("../../repo/feed.js");
      let progress: ((bytes: number) => void) | undefined;
      let last = 0;
      let total = 0;
      const started = Date.now();
      if (process.stderr.isTTY) {
        progress = (bytes) => {
          total += bytes;
          const now = Date.now();
          if (now - last < 250) return;
          last = now;
          const rate = total / Math.max(0.001, (now - started) / 1000);
          process.stderr.write(`\rpublishing: ${formatBytes(total)} read, ${formatBytes(rate)}/s   `);
        };
      }
      const result = await publish({
        repoDir: dir,
        cvlPath: cvl,
        keyPath: options.key ?? defaultKeyPath(),
        resolver: importResolver(),
        ...(options.object !== undefined ? { object: options.object } : {}),
        ...(progress ? { progress } : {}),
      });
      if (progress) process.stderr.write("\r\x1b[K");
      if (options.json) {
        printJson({ version: result.version, ...result.manifest.stats });
        return;
      }
      process.stdout.write(`${result.version}\n`);
    });
}
