/**
 * The `cui` command line: a thin layer over the library. Each command lives in commands/<name>.ts and
 * registers itself on the program; its action lazily imports what it needs, so `cui --help` stays fast.
 * Every error reaches the one handler at the bottom of this file.
 */
import { Command, CommanderError } from "commander";
import { isCollectiveError } from "../errors.js";
import { commandModules } from "./commands/index.js";
import { ExitCode } from "./output.js";

export function buildProgram(): Command {
  const program = new Command("cui")
    .description(
      "Collective: publish virtual appliances as immutable versions, compose them in CVL, and run and update them without losing data.",
    )
    .version(process.env.npm_package_version ?? "0.1.0", "-V, --version")
    .option(
      "--state-dir <dir>",
      "the utility's state directory (default /var/lib/collective, or COLLECTIVE_STATE_DIR)",
    )
    .showHelpAfterError("(run 'cui help <command>' for its options)")
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .exitOverride();
  program.addHelpText(
    "after",
    `
Files and exit status:
  Diagnostics print as file:line:col: error CVL1xxx: message. Exit status is 0 on success, 1 when the
  command failed (for 'check': when any file has an error), 2 on a usage error.

Documentation: README.md (a tour), docs/cvl.md (the language), docs/repositories.md (publishing),
docs/utility.md (running appliances), docs/appliances.md (what an appliance sees).`,
  );
  for (const register of commandModules) register(program);
  return program;
}

/** Runs the CLI with argv (without node and script) and returns the exit status. Never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (error) {
    return reportError(error);
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has printed the message already; help and version are successes.
    if (
      error.code === "commander.helpDisplayed" ||
      error.code === "commander.version" ||
      error.code === "commander.help"
    ) {
      return ExitCode.ok;
    }
    return ExitCode.usage;
  }
  if (isCollectiveError(error)) {
    process.stderr.write(`error: ${error.message}\n`);
    if (error.hint) process.stderr.write(`  ${error.hint}\n`);
    return error.exitCode;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`internal error (a bug in cui; please report it with this output):\n${text}\n`);
  return ExitCode.failed;
}
