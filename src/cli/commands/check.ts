import type { Command } from "commander";
import { ExitCode, printJson } from "../output.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("check CVL files and print every diagnostic, like a compiler")
    .argument("<file.cvl...>", "CVL files to check")
    .option("--object <name>", "check this object as the appliance to run (when a file defines several)")
    .option("--complete", "also require every required parameter to have a value, as 'cui start' does")
    .option("--json", "print the diagnostics as JSON on stdout")
    .addHelpText(
      "after",
      `
Checks syntax, names, scopes, imports, references, the rules of the object model and the start order
of each file. Diagnostics print on stderr as

  file:line:col: error CVL1206: message
    the source line
    ^~~~ under the problem

followed by a one-line summary. Required parameters without a value are warnings (a maker's file
leaves them to the user); with --complete they are errors, as they are for 'cui start'.
The codes are listed in docs/cvl.md.

Exit status: 0 when no file has an error, 1 otherwise, 2 on a usage error.

Examples:
  cui check acme.cvl
  cui check --complete acme.cvl
  cui check examples/paper/*.cvl --json`,
    )
    .action(async (files: string[], options: { object?: string; complete?: boolean; json?: boolean }) => {
      const { checkFile } = await import("../../cvl/index.js");
      const { diagnosticToJson } = await import("../../cvl/diagnostics.js");
      const { printDiagnostics, summary } = await import("../diagnostics-output.js");
      const { importResolver } = await import("../../import-resolver.js");
      const resolver = importResolver();
      const all = [];
      for (const file of files) {
        all.push(
          ...(await checkFile(file, { resolver, object: options.object, requireComplete: options.complete })),
        );
      }
      if (options.json) {
        printJson({
          diagnostics: all.map(diagnosticToJson),
          errors: all.filter((d) => d.severity === "error").length,
        });
      } else {
        printDiagnostics(all);
        process.stderr.write(`${summary(all, files.length)}\n`);
      }
      process.exitCode = all.some((d) => d.severity === "error") ? ExitCode.failed : ExitCode.ok;
    });
}
