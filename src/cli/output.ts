/** Exit statuses and small output helpers shared by the commands. */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;

/** Writes a value as pretty JSON on stdout (the `--json` form of every listing). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Whether to use colours: only on a terminal, and never when NO_COLOR is set. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && process.env.NO_COLOR === undefined;
}
