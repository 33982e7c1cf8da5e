import { resolve } from "node:path";
import type { Command } from "commander";
import type { UpdateAction } from "../../manager/update-plan.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

interface PlanJson {
  appliance: string;
  instance: string;
  components: Array<{ path: string; kind: string; params: Record<string, string[]> }>;
  startOrder: string[][];
  networks: Record<string, number>;
  interfaces: Array<{ path: string; network: string; vni?: number; ip: string; mac: string }>;
  unconnected: string[];
  actions: UpdateAction[];
}

export function registerPlan(program: Command): void {
  program
    .command("plan")
    .description("show what 'cui start' would do, with networks and addresses filled in, without doing it")
    .argument("<file.cvl>", "the CVL file")
    .option("--object <name>", "the object to run (when the file defines several appliances)")
    .option("--json", "print as JSON")
    .addHelpText(
      "after",
      `
Evaluates the file as a start would (every required parameter must have a value), checks that it
fits on the host, and allocates networks and addresses in a transaction that is rolled back: the
plan shows the addresses a start would use now, and holds none of them.

JSON (--json): the evaluated tree as 'cui eval --json' prints it, with allocated values filled in,
plus "instance", "networks" (VAN path -> network id), "interfaces" (path, network, vni, ip, mac),
"unconnected" (interfaces joined to no network) and "actions":
  [{ "action": "start"|"stop"|"update"|"reconfigure"|"attic"|"none", "path", "kind", "reason",
     "from", "to" (versions, null when none or local), "repository",
     "params": { NAME: { "old", "new" } } (sensitive ones as ["(sensitive)"]), "restarts", "newProgram" }]

For an appliance that already runs, the actions are what 'cui update' would do now: which
components start, update (old and new version, which parameters changed), reconfigure without a
restart, go to the attic, or stay untouched, each with its reason.

Examples:
  cui plan acme.cvl
  cui plan acme.cvl --json | jq '.interfaces'`,
    )
    .action(async (file: string, options: { object?: string; json?: boolean }, command: Command) => {
      const client = await clientFor(command);
      const query = `?file=${encodeURIComponent(resolve(file))}${options.object ? `&object=${encodeURIComponent(options.object)}` : ""}`;
      const plan = await client.call<PlanJson>("GET", `/v1/plan${query}`);
      if (options.json) {
        printJson(plan);
        return;
      }
      const { table } = await import("../status-table.js");
      const out: string[] = [
        `plan for ${plan.appliance} (${file}), instance ${plan.instance}`,
        "",
        "networks:",
      ];
      for (const [van, vni] of Object.entries(plan.networks))
        out.push(`  ${van || "(root)"}: network id ${vni}`);
      out.push("", "interfaces:");
      out.push(
        table(
          ["INTERFACE", "NETWORK", "ADDRESS", "MAC"],
          plan.interfaces.map((i) => [
            i.path,
            i.network === "public" ? "public" : `van ${i.vni}`,
            i.ip,
            i.mac,
          ]),
        ).replace(/^/gm, "  "),
      );
      if (plan.unconnected.length > 0)
        out.push(`unconnected interfaces (no address): ${plan.unconnected.join(", ")}`);
      out.push("start order:");
      plan.startOrder.forEach((wave, i) => {
        out.push(`  wave ${i + 1}: ${wave.join(", ")}`);
      });
      out.push("", "actions:");
      const { renderUpdatePlan } = await import("../update-plan-view.js");
      process.stdout.write(`${out.join("\n")}\n${renderUpdatePlan(plan.actions, plan.appliance)}`);
    });
}
