import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { coalesceRanges } from "./range-coalesce.js";

describe("coalesceRanges", () => {
  it("merges near ranges and keeps far ones apart", () => {
    const spans = coalesceRanges(
      [
        { offset: 100, length: 10 },
        { offset: 0, length: 10 },
        { offset: 10_000_000, length: 5 },
      ],
      { maxGapBytes: 1000, maxSpanBytes: 1 << 20 },
    );
    expect(spans.map((s) => [s.offset, s.length])).toEqual([
      [0, 110],
      [10_000_000, 5],
    ]);
    expect(spans[0]?.members).toEqual([
      { index: 1, offsetInSpan: 0 },
      { index: 0, offsetInSpan: 100 },
    ]);
  });

  it("covers every range exactly, within the span limit, for any input", () => {
    const range = fc.record({ offset: fc.nat(1 << 20), length: fc.nat(1 << 12) });
    fc.assert(
      fc.property(fc.array(range, { maxLength: 60 }), fc.nat(1 << 14), (ranges, gap) => {
        const limits = { maxGapBytes: gap, maxSpanBytes: 1 << 16 };
        const spans = coalesceRanges(ranges, limits);
        const seen = new Set<number>();
        for (const span of spans) {
          const alone = span.members.length === 1;
          expect(alone || span.length <= limits.maxSpanBytes).toBe(true);
          for (const member of span.members) {
            const original = ranges[member.index]!;
            expect(span.offset + member.offsetInSpan).toBe(original.offset);
            expect(member.offsetInSpan + original.length).toBeLessThanOrEqual(span.length);
            seen.add(member.index);
          }
        }
        expect(seen.size).toBe(ranges.length);
      }),
    );
  });
});
