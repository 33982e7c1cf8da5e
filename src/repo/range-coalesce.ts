/**
 * Turning many small byte ranges (chunks inside a pack file) into few requests. Ranges that overlap or lie
 * close together are merged into one span, so a thousand 4 KiB chunks cost a handful of HTTP requests; the
 * bytes in the gaps are fetched and thrown away, which is cheaper than a round trip each. Merged single
 * ranges work on every static server (multipart/byteranges answers are not universal).
 */
import type { ByteRange } from "./transport.js";

export interface CoalesceLimits {
  /** Merge two ranges when the gap between them is at most this many bytes. */
  readonly maxGapBytes: number;
  /** Do not grow a span beyond this many bytes (bounds memory per request and work lost to a failure). */
  readonly maxSpanBytes: number;
}

/** One request: a contiguous span of the file and the caller's ranges inside it. */
export interface Span {
  readonly offset: number;
  readonly length: number;
  /** Indexes into the caller's range list, each with its offset relative to the span's start. */
  readonly members: ReadonlyArray<{ readonly index: number; readonly offsetInSpan: number }>;
}

export const defaultCoalesceLimits: CoalesceLimits = {
  maxGapBytes: 64 * 1024,
  maxSpanBytes: 8 * 1024 * 1024,
};

export function coalesceRanges(
  ranges: readonly ByteRange[],
  limits: CoalesceLimits = defaultCoalesceLimits,
): Span[] {
  const order = ranges
    .map((range, index) => ({ range, index }))
    .sort((a, b) => a.range.offset - b.range.offset);
  const spans: Span[] = [];
  let current:
    | { offset: number; end: number; members: Array<{ index: number; offsetInSpan: number }> }
    | undefined;
  for (const { range, index } of order) {
    const end = range.offset + range.length;
    const fits =
      current !== undefined &&
      range.offset <= current.end + limits.maxGapBytes &&
      Math.max(end, current.end) - current.offset <= limits.maxSpanBytes;
    if (current !== undefined && fits) {
      current.end = Math.max(current.end, end);
      current.members.push({ index, offsetInSpan: range.offset - current.offset });
      continue;
    }
    if (current !== undefined) spans.push(finish(current));
    current = { offset: range.offset, end, members: [{ index, offsetInSpan: 0 }] };
  }
  if (current !== undefined) spans.push(finish(current));
  return spans;
}

function finish(span: { offset: number; end: number; members: Span["members"] }): Span {
  return { offset: span.offset, length: span.end - span.offset, members: span.members };
}

/** Checks that ranges are well-formed before any request goes out. */
export function invalidRange(range: ByteRange): string | undefined {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0)
    return `offset ${range.offset} is not a byte offset`;
  if (!Number.isSafeInteger(range.length) || range.length < 0)
    return `length ${range.length} is not a byte count`;
  return undefined;
}
