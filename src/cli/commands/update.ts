import { resolve } from "node:path";
import type { Command } from "commander";
import type { UpdateResult } from "../../manager/update-operation.js";
import type { UpdateAction } from "../../manager/update-plan.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

export function registerUpdate(program: Command): void {
  program
    .command("update")
    .description("bring a running appliance up to date with its file and the newest versions it imports")
    .argument("<file.cvl>", "the CVL file it was started from")
    .argument("[component]", "only this component (a dotted path) and what is inside it")
    .option("-y, --yes", "apply without asking (needed when there is no terminal)")
    .option("--dry-run", "show the plan and stop (same as 'cui plan' for a running appliance)")
    .option("--json", "print the plan (and with it applied, the result and timings) as JSON")
    .addHelpText(
      "after",
      `
What happens (paper, section 5.3): imports without a version are resolved again (the newest
version the publisher has not withdrawn; one the administrator blacklisted is refused, not
skipped: 'cui blacklist'), the file is evaluated again, and the result
is compared with what runs. Each component gets one action:
  start        new in the file: started, in dependency order;
  update       a new version (or image): stopped, its data disks snapshotted, started on the new
               program with its data disks kept; also a change that needs a restart (memory,
               interfaces, command, or parameters of an appliance that declares reload = "restart");
  reconfigure  only parameters changed: the new parameters file is delivered and the appliance
               told (SIGHUP, or its reload command); no restart;
  attic        gone from the file: stopped, its data disks and state moved to the attic
               ('cui attic list'), never deleted;
  untouched    everything else: same process, same connections.
Components stop dependents first and start in dependency order; each updated or new component must
become ready within its readytimeout (120 s unless it says otherwise). If one does not, every
component the update touched goes back to its previous version and data snapshot, and the error
shows why and the component's last log lines. Removals happen only after every gate has passed.
A daemon killed mid-update finishes or rolls back when it starts again. Sensitive values come from
the user agent as for 'cui start'; a changed one is delivered like a changed parameter (masked).

On a terminal the plan is shown and confirmed first; otherwise pass --yes.

Examples:
  cui update acme.cvl                 # show the plan, ask, apply
  cui update acme.cvl --yes www       # only www
  cui update acme.cvl --dry-run --json | jq '.actions[] | select(.action != "none")'`,
    )
    .action(
      async (
        file: string,
        component: string | undefined,
        options: { yes?: boolean; dryRun?: boolean; json?: boolean },
        command: Command,
      ) => {
        const client = await clientFor(command);
        const absolute = resolve(file);
        type Plan = { instance: string; appliance: string; actions: UpdateAction[] };
        const query = `?file=${encodeURIComponent(absolute)}${component ? `&component=${encodeURIComponent(component)}` : ""}`;
        // First without values: it says plainly when nothing runs from the file, or the file is wrong.
        let plan = await client.call<Plan>("GET", `/v1/update/plan${query}`);
        // Then with them, when the appliance has sensitive parameters: a changed value is part of the plan.
        const { gatherSecrets } = await import("../gather-secrets.js");
        const secrets = await gatherSecrets(client, absolute);
        const target = {
          file: absolute,
          ...(component ? { component } : {}),
          ...(secrets ? { secrets } : {}),
        };
        if (secrets) plan = await client.operation<Plan>("/v1/update", { ...target, dryRun: true }, () => {});
        const { renderUpdatePlan } = await import("../update-plan-view.js");
        const name = plan.appliance;
        const work = plan.actions.filter((a) => a.action !== "none");
        if (options.dryRun || work.length === 0) {
          if (options.json) printJson({ ...plan, applied: false });
          else {
            process.stdout.write(renderUpdatePlan(plan.actions, name));
            if (work.length === 0) process.stdout.write("nothing to do: everything is up to date\n");
          }
          return;
        }
        if (!options.json)
          process.stdout.write(`update plan for ${file}:\n${renderUpdatePlan(plan.actions, name)}`);
        const { confirm } = await import("../confirm.js");
        if (!(await confirm("apply this update?", { yes: options.yes, what: `updating ${file}` }))) {
          process.stderr.write("nothing changed\n");
          return;
        }
        const { ProgressView } = await import("../progress.js");
        const view = new ProgressView();
        const result = await client.operation<UpdateResult>("/v1/update", target, (e) => view.update(e));
        if (options.json) printJson(result);
        else {
          const changed = result.actions.filter((a) => a.action !== "none").length;
          const t = result.timings;
          process.stdout.write(
            result.applied
              ? `updated: ${changed} action(s) applied${t ? ` in ${(t.totalMs / 1000).toFixed(1)} s (control plane ${Math.round(t.controlMs)} ms)` : ""}\n`
              : "nothing to do: everything is up to date\n",
          );
        }
      },
    );
}
