/**
 * Parsing a request's Range header against a file size (RFC 9110 section 14). The repository server
 * answers one range with 206; for several ranges it may answer the whole file with 200, which the RFC
 * allows and every client handles (ours sends single ranges).
 */
export type RangeAnswer =
  | { readonly kind: "whole" }
  | { readonly kind: "partial"; readonly start: number; readonly last: number }
  | { readonly kind: "unsatisfiable" };

export function parseRangeHeader(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: "whole" };
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  // Unknown units and several ranges: ignore the header, as the RFC permits.
  if (match === null) return { kind: "whole" };
  const [, first = "", second = ""] = match;
  if (first === "" && second === "") return { kind: "whole" };
  if (first === "") {
    const suffix = Number(second);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), last: size - 1 };
  }
  const start = Number(first);
  const last = second === "" ? size - 1 : Math.min(Number(second), size - 1);
  if (start >= size || (second !== "" && Number(second) < start)) {
    return second !== "" && Number(second) < start ? { kind: "whole" } : { kind: "unsatisfiable" };
  }
  return { kind: "partial", start, last };
}
