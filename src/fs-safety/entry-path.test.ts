import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { entryPathSegments, normalizeEntryPath } from "./entry-path.js";

describe("entry paths", () => {
  it("normalizes harmless spellings", () => {
    expect(normalizeEntryPath("./a//b/")).toBe("a/b");
    expect(normalizeEntryPath(".")).toBe("");
    expect(entryPathSegments("usr/share/doc")).toEqual(["usr", "share", "doc"]);
  });

  it.each(["../x", "a/../../x", "/etc/passwd", "a\0b", `${"x".repeat(256)}/y`])("refuses %j", (path) => {
    expect(() => entryPathSegments(path)).toThrow(/unsafe entry path/);
  });

  it("never yields a segment that could climb out", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "..", ".", "", "/", "b/c", "..."), { maxLength: 8 }),
        (parts) => {
          const path = parts.join("/");
          try {
            const segments = entryPathSegments(path);
            expect(segments.every((s) => s !== ".." && s !== "." && s !== "" && !s.includes("/"))).toBe(true);
          } catch (error) {
            expect(String(error)).toMatch(/unsafe entry path/);
          }
        },
      ),
    );
  });
});
