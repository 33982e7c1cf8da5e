import { resolve } from "node:path";
import type { Command } from "commander";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

interface RollbackResult {
  instance: string;
  rolledBack: Array<{ path: string; from: number | null; to: number | null; snapshot: string | null }>;
}

export function registerRollback(program: Command): void {
  program
    .command("rollback")
    .description("go back to the previous version of updated components (and with --data, their data)")
    .argument("<file.cvl>", "the CVL file it was started from")
    .argument("[component]", "only this component (a dotted path) and what is inside it")
    .option("--data", "also restore the data disks from the snapshot taken before the last update")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
Every component whose last update replaced its program goes back to the program it ran before (its
copy-on-write layer is reset; the previous version is still in the host cache). Its data disks are
kept as they are, unless --data restores the snapshot taken just before that update (what was
written since is then lost: the current disks are not kept). Components stop dependents first and
start in dependency order, each waiting until ready. A blacklisted or withdrawn previous version is
refused. A second rollback goes forward again.

Examples:
  cui rollback acme.cvl www
  cui rollback acme.cvl www --data`,
    )
    .action(
      async (
        file: string,
        component: string | undefined,
        options: { data?: boolean; json?: boolean },
        command: Command,
      ) => {
        const client = await clientFor(command);
        const absolute = resolve(file);
        // The sensitive values too: after a daemon restart the utility no longer holds them.
        const { gatherSecrets } = await import("../gather-secrets.js");
        const secrets = await gatherSecrets(client, absolute);
        const { ProgressView } = await import("../progress.js");
        const view = new ProgressView();
        const result = await client.operation<RollbackResult>(
          "/v1/rollback",
          {
            file: absolute,
            ...(component ? { component } : {}),
            data: options.data === true,
            ...(secrets ? { secrets } : {}),
          },
          (e) => view.update(e),
        );
        if (options.json) {
          printJson(result);
          return;
        }
        for (const r of result.rolledBack) {
          const v = (n: number | null) => (n === null ? "local image" : `version ${n}`);
          process.stdout.write(
            `${r.path || "(root)"}: ${v(r.from)} -> ${v(r.to)}${r.snapshot ? `, data restored from snapshot ${r.snapshot}` : ""}\n`,
          );
        }
      },
    );
}
