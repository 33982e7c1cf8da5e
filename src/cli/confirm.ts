/**
 * Asking before acting: on a terminal, a yes/no question; without one (a script, a pipe) the command
 * refuses unless --yes was given, so nothing irreversible happens because stdin happened to be empty.
 */
import { createInterface } from "node:readline/promises";
import { CollectiveError } from "../errors.js";

export async function confirm(question: string, options: { yes?: boolean; what: string }): Promise<boolean> {
  if (options.yes) return true;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CollectiveError(
      "NEEDS_CONFIRMATION",
      `${options.what} needs a confirmation and there is no terminal to ask on`,
      {
        hint: "pass --yes to go ahead without asking",
        exitCode: 2,
      },
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
