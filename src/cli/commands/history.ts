import { resolve } from "node:path";
import type { Command } from "commander";
import type { HistoryEntry } from "../../manager/update-operation.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

export function registerHistory(program: Command): void {
  program
    .command("history")
    .description("list every update and rollback of an appliance, manual and automatic")
    .argument("<file.cvl>", "the CVL file it was started from")
    .option(
      "--json",
      "print as JSON: { entries: [{ id, at, action, path, from, to, automatic, outcome, note }] }",
    )
    .addHelpText(
      "after",
      `
One line per component per update: when, which action (update, autoupdate, rollback), the versions,
and the outcome ("done", or "rolled back" with why). Automatic updates ('cui autoupdate') are marked.

Example:
  cui history acme.cvl`,
    )
    .action(async (file: string, options: { json?: boolean }, command: Command) => {
      const client = await clientFor(command);
      const { entries } = await client.call<{ entries: HistoryEntry[] }>(
        "GET",
        `/v1/history?file=${encodeURIComponent(resolve(file))}`,
      );
      if (options.json) {
        printJson({ entries });
        return;
      }
      if (entries.length === 0) {
        process.stdout.write("no updates yet\n");
        return;
      }
      const { table } = await import("../status-table.js");
      const v = (n: number | null) => (n === null ? "-" : `v${n}`);
      process.stdout.write(
        table(
          ["WHEN", "ACTION", "COMPONENT", "FROM", "TO", "OUTCOME", "NOTE"],
          entries.map((e) => [
            e.at.replace("T", " ").slice(0, 19),
            e.automatic ? `${e.action} (auto)` : e.action,
            e.path || "(root)",
            v(e.from),
            v(e.to),
            e.outcome,
            e.note,
          ]),
        ),
      );
    });
}
