import { resolve } from "node:path";
import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import type { AtticEntry } from "../../manager/attic.js";
import { formatBytes } from "../../repo/feed.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";
import { table } from "../status-table.js";

interface RestoreResult {
  entry: string;
  file: string;
  instance: string;
  component: string;
  disks: string[];
  to: string;
  notes: string[];
}

function holds(entry: AtticEntry): string {
  const disks = entry.disks ?? [];
  if (disks.length > 0) return disks.map((d) => `${d.file} ${formatBytes(d.size)}`).join(", ");
  if (entry.restored) return `restored to ${entry.restored.path || "(root)"}`;
  return "no data disks";
}

function version(entry: { version: number | null }): string {
  return entry.version === null ? "-" : String(entry.version);
}

/** Asks on the terminal; true only for y or yes. */
async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function registerAttic(program: Command): void {
  const attic = program
    .command("attic")
    .description("data and state of components removed by an update, kept until you purge them")
    .addHelpText(
      "after",
      `
When 'cui update' removes a component (it is no longer in the file), the component is stopped and
its data disks and machine state (logs, copy-on-write layer) move to the attic, under an entry named
by the time, the appliance and the component: 20261123T174501Z-Acme-db. A component of the same name
added later starts with empty disks; nothing in the attic is ever deleted except by 'cui attic purge'.
The attic is the directory attic/ in the state directory (docs/utility.md, "Attic").

Examples:
  cui attic list
  cui attic restore 20261123T174501Z-Acme-db
  cui attic restore 20261123T174501Z-Acme-db --as olddb
  cui attic purge 20261123T174501Z-Acme-db`,
    );

  attic
    .command("list")
    .description("list the attic's entries, newest first")
    .option(
      "--json",
      'print as JSON: {"entries": [{"id", "file", "object", "path", "version", "reason", "at", "disks"}]}',
    )
    .action(async (options: { json?: boolean }, command: Command) => {
      const { entries } = await (await clientFor(command)).call<{ entries: AtticEntry[] }>(
        "GET",
        "/v1/attic",
      );
      if (options.json) {
        printJson({ entries });
        return;
      }
      if (entries.length === 0) {
        process.stdout.write("the attic is empty\n");
        return;
      }
      const rows = entries.map((e) => [
        e.id,
        e.path || "(root)",
        version(e),
        e.at.replace(/\.[0-9]{3}Z$/, "Z"),
        holds(e),
        `${e.object} (${e.file})`,
        e.reason,
      ]);
      process.stdout.write(
        table(["ENTRY", "COMPONENT", "VERSION", "REMOVED", "HOLDS", "FROM", "REASON"], rows),
      );
    });

  attic
    .command("restore")
    .description("move an entry's data disks back, as the data disks of a component that has none")
    .argument("<entry>", "the entry's id ('cui attic list')")
    .argument("[file.cvl]", "the CVL file whose appliance gets the disks (default: the one it came from)")
    .option("--as <component>", "the component path that gets them (default: the one it came from)")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
The target component must not be running and must have no data of its own: no data disks and no
machine state (a component that has never run, or whose own data went to the attic). Restoring into
a component that has data is refused (OCCUPIED): nothing is ever overwritten. The disks keep their
file names (<device>.img), so the target should declare the same devices in its datadisks.

The usual way back: put the component into the file again, restore, then 'cui update' (or 'cui start'
when the appliance is not running) starts it with its old data. The entry keeps the old machine
state (logs) until you purge it.

Examples:
  cui attic restore 20261123T174501Z-Acme-db              # back where it came from
  cui attic restore 20261123T174501Z-Acme-db --as olddb   # as another component of the same appliance
  cui attic restore 20261123T174501Z-Acme-db other.cvl --as db`,
    )
    .action(
      async (
        entry: string,
        file: string | undefined,
        options: { as?: string; json?: boolean },
        command: Command,
      ) => {
        const result = await (await clientFor(command)).call<RestoreResult>(
          "POST",
          `/v1/attic/${encodeURIComponent(entry)}/restore`,
          {
            ...(file !== undefined ? { file: resolve(file) } : {}),
            ...(options.as !== undefined ? { component: options.as } : {}),
          },
        );
        if (options.json) {
          printJson(result);
          return;
        }
        process.stdout.write(
          `restored ${result.disks.join(", ")} from ${result.entry} as the data disks of ${result.component || "(root)"} (${result.file})\n`,
        );
        for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
      },
    );

  attic
    .command("purge")
    .description("delete an attic entry and everything in it, for good")
    .argument("<entry>", "the entry's id ('cui attic list')")
    .option("-y, --yes", "do not ask (required when stdin is not a terminal)")
    .addHelpText(
      "after",
      `
This is the only way anything leaves the attic. On a terminal it shows what the entry holds and
asks; elsewhere (a script, a pipe) it refuses unless --yes is given.

Examples:
  cui attic purge 20261123T174501Z-Acme-db
  cui attic purge 20261123T174501Z-Acme-db --yes`,
    )
    .action(async (id: string, options: { yes?: boolean }, command: Command) => {
      const client = await clientFor(command);
      if (!options.yes) {
        const { entries } = await client.call<{ entries: AtticEntry[] }>("GET", "/v1/attic");
        const entry = entries.find((e) => e.id === id);
        if (entry !== undefined) {
          if (!process.stdin.isTTY) {
            throw new CollectiveError(
              "CONFIRMATION_NEEDED",
              `purging ${id} deletes its data for good, and there is no terminal to ask on`,
              { hint: `add --yes: cui attic purge ${id} --yes`, exitCode: 2 },
            );
          }
          process.stderr.write(
            `${id}: ${entry.path || "(root)"} of ${entry.object} (${entry.file}), removed ${entry.at}\n  holds: ${holds(entry)}, and its machine state (logs, copy-on-write layer)\n`,
          );
          if (!(await confirm("Delete it for good? [y/N] "))) {
            process.stderr.write("nothing deleted\n");
            return;
          }
        }
        // An unknown id goes on to the daemon, whose error lists the entries there are.
      }
      const { purged } = await client.call<{ purged: string }>(
        "DELETE",
        `/v1/attic/${encodeURIComponent(id)}`,
      );
      process.stdout.write(`purged ${purged}\n`);
    });
}
