import { resolve } from "node:path";
import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import { clientFor } from "../daemon-client.js";

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .description("show a component's console output (stdout and stderr)")
    .argument("<file.cvl>", "the CVL file the appliance was started from")
    .argument("<component>", "the dotted path of a machine component")
    .option("-f, --follow", "keep printing new output until interrupted")
    .option("-n, --tail <lines>", "start with only the last N lines")
    .addHelpText(
      "after",
      `
Logs are kept per component on the host, bounded in size (older output is rotated away).

Examples:
  cui logs acme.cvl www
  cui logs acme.cvl f --follow --tail 20`,
    )
    .action(
      async (
        file: string,
        component: string,
        options: { follow?: boolean; tail?: string },
        command: Command,
      ) => {
        if (options.tail !== undefined && !/^[0-9]+$/.test(options.tail)) {
          throw new CollectiveError("BAD_VALUE", `--tail "${options.tail}" must be a number of lines`, {
            exitCode: 2,
          });
        }
        const client = await clientFor(command);
        const query = new URLSearchParams({
          file: resolve(file),
          component,
          ...(options.follow ? { follow: "true" } : {}),
          ...(options.tail ? { tail: options.tail } : {}),
        });
        await client.text(`/v1/logs?${query.toString()}`, (text) => process.stdout.write(text));
      },
    );
}
