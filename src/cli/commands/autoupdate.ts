import { resolve } from "node:path";
import type { Command } from "commander";
import type { AutoUpdateSetting } from "../../manager/autoupdate.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

function render(settings: readonly AutoUpdateSetting[]): string {
  if (settings.length === 0) return "no appliance is updated automatically\n";
  return settings
    .map(
      (s) =>
        `${s.file}: ${s.enabled ? "on" : "off"}${s.window ? `, window ${s.window}` : ", any time"}; last check: ${s.lastCheck ?? "never"}${s.lastResult ? ` (${s.lastResult})` : ""}`,
    )
    .join("\n")
    .concat("\n");
}

export function registerAutoupdate(program: Command): void {
  program
    .command("autoupdate")
    .description("keep a running appliance up to date automatically (or list, or check now)")
    .argument("[file.cvl]", "the CVL file it was started from (none: list every setting)")
    .argument("[mode]", '"on", "off", "now" (check and apply at once) or "status" (the default)')
    .option(
      "--window <HH:MM-HH:MM>",
      "apply automatic updates only in this local time window, e.g. 02:00-04:30",
    )
    .option("--json", "print the settings as JSON")
    .addHelpText(
      "after",
      `
The paper's promise: a maker publishes a new version and the appliances that import it without a
pinned version are brought up to date without their users doing anything. With it on, the daemon
checks every hour (COLLECTIVE_AUTOUPDATE_INTERVAL seconds, for the daemon's environment) and, within
the window if there is one, applies what 'cui update' would, through the same plan, health gate and
automatic rollback. Imports that pin a version are never moved. Withdrawn versions are never
chosen; an update to a blacklisted version is refused (and recorded as failed). Every automatic update, applied or rolled back, is in 'cui history' (marked auto).
Appliances with sensitive parameters are updated with the values the daemon holds in memory; after a
daemon restart an update that would restart such a component is refused (recorded as failed) until
'cui start' gives the values again.

Examples:
  cui autoupdate acme.cvl on --window 02:00-04:30
  cui autoupdate acme.cvl now        # check and apply now, ignoring the window
  cui autoupdate                     # every setting and its last check
  cui autoupdate acme.cvl off`,
    )
    .action(
      async (
        file: string | undefined,
        mode: string | undefined,
        options: { window?: string; json?: boolean },
        command: Command,
      ) => {
        const { CollectiveError } = await import("../../errors.js");
        const chosen = mode ?? "status";
        if (!["on", "off", "now", "status"].includes(chosen)) {
          throw new CollectiveError("USAGE", `"${chosen}" is not a mode`, {
            hint: 'give "on", "off", "now" or "status", e.g. cui autoupdate acme.cvl on',
            exitCode: 2,
          });
        }
        if (options.window !== undefined && chosen !== "on") {
          throw new CollectiveError("USAGE", "--window goes with 'on'", {
            hint: "cui autoupdate FILE on --window 02:00-04:30",
            exitCode: 2,
          });
        }
        const client = await clientFor(command);
        const absolute = file === undefined ? undefined : resolve(file);
        let settings: AutoUpdateSetting[];
        if (chosen === "on" || chosen === "off") {
          if (absolute === undefined)
            throw new CollectiveError("USAGE", `'${chosen}' needs the CVL file`, { exitCode: 2 });
          const setting = await client.call<AutoUpdateSetting>("PUT", "/v1/autoupdate", {
            file: absolute,
            enabled: chosen === "on",
            window: options.window ?? null,
          });
          settings = [setting];
        } else if (chosen === "now") {
          settings = (
            await client.call<{ settings: AutoUpdateSetting[] }>("POST", "/v1/autoupdate/check", {
              ...(absolute ? { file: absolute } : {}),
            })
          ).settings;
        } else {
          settings = (await client.call<{ settings: AutoUpdateSetting[] }>("GET", "/v1/autoupdate")).settings;
        }
        if (absolute !== undefined) settings = settings.filter((s) => s.file === absolute);
        if (options.json) printJson({ settings });
        else process.stdout.write(render(settings));
      },
    );
}
