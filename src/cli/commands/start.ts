import { resolve } from "node:path";
import type { Command } from "commander";
import type { StatusJson } from "../../manager/manager.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

export function registerStart(program: Command): void {
  program
    .command("start")
    .description(
      "start the appliance a CVL file defines: networks, disks, then components in dependency order",
    )
    .argument("<file.cvl>", "the CVL file (its imports are resolved and fetched into the host cache)")
    .option("--object <name>", "the object to run (when the file defines several appliances)")
    .option("--json", "print the resulting status as JSON")
    .addHelpText(
      "after",
      `
What happens (paper, section 5.1.2):
  1. the file is evaluated; every required parameter must have a value and every 'requires' must be
     provided; all problems are reported at once, before anything is created;
  2. the start must fit the host's capacity ('cui host show');
  3. each VAN gets a network id and its subnet 10.x.y.0/24, each interface a MAC and an address, and
     an exported interface of the root VAN an address from the public pool ('cui pool list');
  4. components start wave by wave (provides/requires), in parallel within a wave; each wave waits
     until the previous one is ready (its healthcheck passes, or it runs when it declares none).
Sensitive parameters (var "sensitive") get their values from the user agent ('cui agent', 'cui secret
set'), which asks on a terminal for missing ones; without a terminal a missing required one is an
error naming it. The values reach the appliance as files in /run/collective/secrets/ and are kept
only in the daemon's memory (docs/secrets.md). Starting an appliance that already runs gives them
again after a daemon restart.
Data disks are created empty at the first start and kept across stops and updates.
A start that fails leaves nothing behind but the data disks it created.

Progress shows per component on stderr; the status table follows on stdout.

Examples:
  cui start examples/groupware/acme.cvl
  cui start acme.cvl --json | jq '.appliances[0].components[] | {path, state}'`,
    )
    .action(async (file: string, options: { object?: string; json?: boolean }, command: Command) => {
      const client = await clientFor(command);
      const { ProgressView } = await import("../progress.js");
      const view = new ProgressView();
      const absolute = resolve(file);
      const { gatherSecrets } = await import("../gather-secrets.js");
      const secrets = await gatherSecrets(client, absolute, options.object);
      await client.operation(
        "/v1/start",
        {
          file: absolute,
          ...(options.object ? { object: options.object } : {}),
          ...(secrets ? { secrets } : {}),
        },
        (e) => view.update(e),
      );
      const status = await client.call<StatusJson>("GET", `/v1/status?file=${encodeURIComponent(absolute)}`);
      if (options.json) printJson(status);
      else {
        const { renderStatus } = await import("../status-table.js");
        process.stdout.write(renderStatus(status));
      }
    });
}
