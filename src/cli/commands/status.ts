import { resolve } from "node:path";
import type { Command } from "commander";
import type { StatusJson } from "../../manager/manager.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description(
      "show every appliance (or the one a CVL file defines) with its components' states and addresses",
    )
    .argument("[file.cvl]", "only the appliance started from this file")
    .option("--json", "print as JSON")
    .addHelpText(
      "after",
      `
JSON (--json):
  { "appliances": [ { "file", "name", "instance", "state",
      "components": [ { "path", "kind", "state", "version", "repository",
                        "interfaces": { NAME: { "ip", "mac" } }, "since", "restarts",
                        "secrets": "none"|"held"|"forgotten" } ] } ] }
  "secrets": whether the daemon holds the component's sensitive values in memory ("forgotten" after a
  daemon restart: it runs, but could not be started again unattended until 'cui start' gives them).

Examples:
  cui status
  cui status acme.cvl --json`,
    )
    .action(async (file: string | undefined, options: { json?: boolean }, command: Command) => {
      const client = await clientFor(command);
      const query = file === undefined ? "" : `?file=${encodeURIComponent(resolve(file))}`;
      const status = await client.call<StatusJson>("GET", `/v1/status${query}`);
      if (options.json) {
        printJson(status);
        return;
      }
      if (status.appliances.length === 0) {
        process.stdout.write(file === undefined ? "no appliances\n" : `nothing started from ${file}\n`);
        return;
      }
      const { renderStatus } = await import("../status-table.js");
      process.stdout.write(renderStatus(status));
    });
}
