/**
 * When a file's stat can vouch for the contents read with it (git's "racily clean" entries).
 *
 * A change time comes from the kernel's coarse clock, which moves a tick at a time (4-10 ms), and is
 * kept at the filesystem's granularity (nanoseconds on ext4, xfs, btrfs and tmpfs; whole seconds on some,
 * two seconds on FAT). A file written twice within one tick, with a publish reading it in between, keeps
 * its change time, size and modification time while its contents differ from what was stored: a record
 * made then would let the next publish skip the file and keep the stale contents.
 *
 * Such a change time lies within a tick (or the granularity) of the walk that read the file. So the
 * quick-check records (quick-check.ts, image-quick-check.ts) keep only entries whose change time is
 * older than the walk's start by a margin; the others are read again by the next publish.
 */

/** Margin for timestamps finer than a second: the coarse clock lags the real one by at most a tick. */
export const fineMarginMs = 50;
/** Margin for whole-second timestamps (and FAT's two-second ones). */
export const coarseMarginMs = 2000;

const nanosecondsPerSecond = 1_000_000_000n;

export class ChangeCutoff {
  private readonly fine: bigint;
  private readonly coarse: bigint;

  /** `startedMs`: when the walk began (before its first stat), on the real-time clock. */
  constructor(startedMs: number = Date.now()) {
    this.fine = BigInt(Math.floor(startedMs) - fineMarginMs) * 1_000_000n;
    this.coarse = BigInt(Math.floor(startedMs) - coarseMarginMs) * 1_000_000n;
  }

  /**
   * Whether a change time is too recent to vouch for contents read since. A time on a whole second is
   * taken as a coarse filesystem's (a fine one lands there once in hundreds of ticks: a file read again).
   * A time in the future (a clock set back, a network filesystem's skew) is always too recent.
   */
  tooRecent(ctimeNs: bigint): boolean {
    return ctimeNs >= (ctimeNs % nanosecondsPerSecond === 0n ? this.coarse : this.fine);
  }
}
