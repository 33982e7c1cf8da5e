import { describe, expect, it } from "vitest";
import { comparePaths } from "./entry-path.js";

const bytewise = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe("comparePaths", () => {
  it("orders paths as their UTF-8 bytes, also where UTF-16 order differs", () => {
    const alphabet = ["a", "b", "/", ".", "Z", "é", "\u{e000}", "\u{fffd}", "😀", "\u{10ffff}", "中"];
    const paths: string[] = [];
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 400; i++) {
      let path = "";
      for (let k = next(6); k >= 0; k--) path += alphabet[next(alphabet.length)];
      paths.push(path);
    }
    for (const a of paths)
      for (const b of paths.slice(0, 60)) expect(comparePaths(a, b)).toBe(bytewise(a, b));
    expect(comparePaths("\u{e000}", "😀")).toBe(-1); // UTF-16 would put the emoji (a surrogate pair) first
    expect(comparePaths("a", "a/b")).toBe(-1);
    expect(comparePaths("a.b", "a/b")).toBe(-1);
  });
});
