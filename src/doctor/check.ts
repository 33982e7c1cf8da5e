/**
 * The shape every `cui doctor` check shares, and the helpers they use to run commands and build results.
 * A check never throws: whatever goes wrong becomes a result that says what and how to fix it.
 */
import { CollectiveError } from "../errors.js";
import type { ExecOptions, ExecResult } from "../sys/exec.js";
import type { DoctorContext } from "./context.js";

export type CheckStatus = "ok" | "missing" | "broken" | "warning";

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  /** Whether appliances cannot run without it (a failed required check makes `cui doctor` exit 1). */
  readonly required: boolean;
  readonly detail: string;
  /** What to do about it; null when the check passed. */
  readonly fix: string | null;
}

export interface Check {
  /** The name a crash of the check itself is reported under. */
  readonly name: string;
  readonly run: (ctx: DoctorContext) => Promise<CheckResult | readonly CheckResult[]>;
}

/** Builds a result. Optional things that fail are warnings: they never make the host unfit. */
export function result(
  name: string,
  required: boolean,
  status: CheckStatus,
  detail: string,
  fix: string | null = null,
): CheckResult {
  const shown = !required && status !== "ok" ? "warning" : status;
  return { name, status: shown, required, detail: oneLine(detail), fix: status === "ok" ? null : fix };
}

/** Command errors carry stderr on indented lines; a table cell wants one line. */
export function oneLine(text: string): string {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^\^+$/.test(line)) // nft underlines the failing rule with carets
    .join("; ")
    .replace(/:; /g, ": ");
}

export type CommandOutcome =
  | { readonly kind: "ok"; readonly result: ExecResult }
  | { readonly kind: "missing"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string };

/**
 * Runs a command, telling "not installed" apart from "installed but failed". `label` replaces the command
 * line in the failure message when the arguments are long (temp paths).
 */
export async function tryCommand(
  ctx: DoctorContext,
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
  label?: string,
): Promise<CommandOutcome> {
  try {
    return { kind: "ok", result: await ctx.run(command, args, options) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (isNotFound(error)) return { kind: "missing", message: `${command} not found` };
    const shown = [command, ...args].join(" ");
    const short =
      label !== undefined && message.startsWith(shown) ? label + message.slice(shown.length) : message;
    return { kind: "failed", message: short };
  }
}

/** ENOENT, or EACCES when no PATH entry held an executable one (an unreadable directory on the way). */
function isNotFound(error: unknown): boolean {
  const cause = error instanceof CollectiveError ? error.cause : undefined;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "EACCES";
}

/** The first non-empty line a `--version` prints (some tools print it on stderr). */
export function firstLine(result: ExecResult): string {
  const text = result.stdout.trim() || result.stderr.trim();
  return text.split("\n")[0] ?? "";
}

/** Without root, privileged checks fail for that reason first: say so before the kernel-level fix. */
export function rootFirst(ctx: DoctorContext, fix: string): string {
  return ctx.isRoot ? fix : `run as root (if it still fails: ${fix})`;
}
