import { resolve } from "node:path";
import type { Command } from "commander";
import type { Snapshot } from "../../manager/snapshots.js";
import { formatBytes } from "../../repo/feed.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";
import { table } from "../status-table.js";

type SnapshotJson = Snapshot & { disks: Array<{ file: string; size: number }>; damaged?: string };

export function registerSnapshots(program: Command): void {
  program
    .command("snapshots")
    .description("list the data disk snapshots taken before updates of an appliance, newest first")
    .argument("<file.cvl>", "the CVL file the appliance was started from")
    .option(
      "--json",
      'print as JSON: {"snapshots": [{"id", "path", "repository", "version", "reason", "at", "disks": [{"file", "size"}]}]}',
    )
    .addHelpText(
      "after",
      `
Before 'cui update' replaces a component's program, it stops the component and copies its data
disks into a snapshot: copy-on-write where the file system can (btrfs, XFS: instant and free until
the disks change), a sparse copy otherwise. A failed update, or 'cui rollback --data', puts them back
byte for byte. VERSION is the program version the disks were used with.

The newest 3 snapshots of each component are kept (COLLECTIVE_SNAPSHOT_KEEP in the daemon's
environment changes the number; the newest one is always kept); older ones are deleted
when a new one is taken. They live in snapshots/ in the state directory (docs/utility.md, "Snapshots").

Examples:
  cui snapshots acme.cvl
  cui snapshots acme.cvl --json | jq '.snapshots[] | select(.path == "db") | .id'`,
    )
    .action(async (file: string, options: { json?: boolean }, command: Command) => {
      const absolute = resolve(file);
      const { snapshots } = await (await clientFor(command)).call<{ snapshots: SnapshotJson[] }>(
        "GET",
        `/v1/snapshots?file=${encodeURIComponent(absolute)}`,
      );
      if (options.json) {
        printJson({ snapshots });
        return;
      }
      if (snapshots.length === 0) {
        process.stdout.write(`no snapshots of ${absolute} yet (they are taken by updates)\n`);
        return;
      }
      const rows = snapshots.map((s) => [
        s.path || "(root)",
        s.version === null ? "-" : String(s.version),
        s.at.replace(/\.[0-9]{3}Z$/, "Z"),
        s.damaged
          ? `damaged: ${s.damaged}`
          : s.disks.map((d) => `${d.file} ${formatBytes(d.size)}`).join(", ") || "no data disks",
        s.reason,
        s.id,
      ]);
      process.stdout.write(table(["COMPONENT", "VERSION", "TAKEN", "DISKS", "REASON", "ID"], rows));
    });
}
