import { describe, expect, it } from "vitest";
import { parseRangeHeader } from "./serve-range.js";

describe("parseRangeHeader", () => {
  it.each([
    [undefined, { kind: "whole" }],
    ["bytes=0-9", { kind: "partial", start: 0, last: 9 }],
    ["bytes=90-", { kind: "partial", start: 90, last: 99 }],
    ["bytes=90-500", { kind: "partial", start: 90, last: 99 }],
    ["bytes=-10", { kind: "partial", start: 90, last: 99 }],
    ["bytes=-1000", { kind: "partial", start: 0, last: 99 }],
    ["bytes=100-", { kind: "unsatisfiable" }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=5-2", { kind: "whole" }],
    ["bytes=0-1,5-6", { kind: "whole" }],
    ["items=0-1", { kind: "whole" }],
  ])("answers %j on a 100-byte file with %j", (header, answer) => {
    expect(parseRangeHeader(header, 100)).toEqual(answer);
  });
});
