/**
 * The `cui` command line: a thin layer over the library. Each command lives in commands/<name>.ts and
 * registers itself on the program; its action lazily imports what it needs, so `cui --help` stays fast.
 * Every error reaches the one handler at the bottom of this file.
 */
import { Command, CommanderError } from "commander";
import { isCollectiveError } from "../errors.js";
import { commandModules } from "./commands/index.js";
import { ExitCode } from "./output.js";

/**
 * The program with the commands `argv` can run: only the named command's modules when argv names one
 * (each module loaded costs about a millisecond of every run), all of them for help, a version, a
 * mistyped command (so commander can suggest the right one) or none.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("cui")
    .description(
      "Collective: publish virtual appliances as immutable versions, compose them in CVL, and run and update them without losing data.",
    )
    .version(process.env.npm_package_version ?? "0.1.0", "-V, --version")
    .option(
      "--state-dir <dir>",
      "the utility's state directory (default /var/lib/collective, or COLLECTIVE_STATE_DIR)",
    )
    // `cui pull --version N` is the paper's syntax: without positional options, commander would take
    // --version after a subcommand as the program's own -V/--version and print cui's version instead.
    .enablePositionalOptions()
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
  const name = commandNamed(argv);
  const modules = commandModules.filter((module) => module.name === name);
  const registers = await Promise.all((modules.length > 0 ? modules : commandModules).map((m) => m.load()));
  for (const register of registers) register(program);
  return program;
}

/** The top-level command argv runs: its first word after the program's own options, if any. */
function commandNamed(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === "--state-dir")
      i++; // the option's value
    else if (!word.startsWith("-")) return word;
    else if (!word.startsWith("--state-dir=")) return undefined; // -h, -V, or a mistake: all commands
  }
  return undefined;
}

/** Runs the CLI with argv (without node and script) and returns the exit status. Never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
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
