import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import { ExitCode, printJson } from "../output.js";

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("evaluate a CVL file and print its appliance: components, parameter values, start order")
    .argument("<file.cvl>", "the CVL file")
    .option("--object <name>", "the object to evaluate (when the file defines several appliances)")
    .option("--json", "print the evaluated tree as JSON")
    .addHelpText(
      "after",
      `
Prints the tree of components (VANs, VM and container appliances) with every parameter's value after
inheritance and late binding. Values the utility allocates at start (interface addresses) are pending
and show as \${path.to.param}. Sensitive parameters show by name only, never with a value.

JSON (--json):
  { "appliance": NAME, "file": FILE,
    "components": [ { "path": "" | "d" | "g.f", "name", "type", "kind": "van"|"vm"|"container",
                      "params": { NAME: [STRING...] },  (interfaces as "ethernet0.ip")
                      "pending": [NAME...], "sensitive": [NAME...], "missing": [NAME...],
                      "interfaces", "requires", "provides" } ],
    "startOrder": [ [PATH...], ... ],  (waves; each starts when the previous one is ready)
    "imports": [ { "name", "file", "url", "repository", "version", "pinned" } ] }

Exit status: 0 on success, 1 when the file has errors (printed as by 'cui check').

Examples:
  cui eval acme.cvl
  cui eval acme.cvl --json | jq '.components[] | select(.path == "d") | .params.domain'`,
    )
    .action(async (file: string, options: { object?: string; json?: boolean }) => {
      const { evaluateFile } = await import("../../cvl/index.js");
      const { printDiagnostics } = await import("../diagnostics-output.js");
      const { importResolver } = await import("../../import-resolver.js");
      const result = await evaluateFile(file, { resolver: importResolver(), object: options.object });
      printDiagnostics(result.diagnostics);
      if (!result.evaluation) {
        const errors = result.diagnostics.filter((d) => d.severity === "error").length;
        throw new CollectiveError(
          "CVL_ERRORS",
          `${file} has ${errors} error${errors === 1 ? "" : "s"}; nothing evaluated`,
          {
            hint: "fix the errors above (cui check shows them too)",
          },
        );
      }
      const { evaluationToJson } = await import("../../cvl/json.js");
      const json = evaluationToJson(result.evaluation);
      if (options.json) printJson(json);
      else {
        const { renderTree } = await import("../eval-tree.js");
        process.stdout.write(renderTree(json));
      }
      process.exitCode = ExitCode.ok;
    });
}
