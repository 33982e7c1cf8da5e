/**
 * Exponential backoff between restarts of a crashing machine: initial, doubled per consecutive crash, at
 * most max. A machine that stayed up for resetAfterMs starts again from initial.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly resetAfterMs: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 1_000, maxMs: 60_000, resetAfterMs: 60_000 };

/** Delay before restart number `streak + 1` of a run of consecutive crashes. */
export function restartDelayMs(options: BackoffOptions, streak: number): number {
  return Math.min(options.maxMs, options.initialMs * 2 ** Math.min(streak, 30));
}
