/**
 * The one error type of Collective. Everything a user can cause (bad input, an unreachable repository, a
 * missing key) is thrown as a CollectiveError and funnelled to one handler in the CLI (and later the API),
 * which prints `error: <message>` plus the hint, and exits non-zero. Anything else that escapes is a bug
 * and is printed with its stack.
 */
export class CollectiveError extends Error {
  override readonly name = "CollectiveError";
  /** A stable machine-readable code, e.g. "REPO_NOT_FOUND". Shown in --json error output. */
  readonly code: string;
  /** What the user can do about it; printed on its own line after the message. */
  readonly hint: string | undefined;
  /** Process exit status for the CLI (1 = failed, 2 = usage error). */
  readonly exitCode: number;

  constructor(
    code: string,
    message: string,
    options: { hint?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

export function isCollectiveError(error: unknown): error is CollectiveError {
  return error instanceof CollectiveError;
}
