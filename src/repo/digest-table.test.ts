import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DigestTable, parseDigestHex } from "./digest-table.js";

const digest = (n: number): Buffer => createHash("sha256").update(String(n)).digest();

describe("DigestTable", () => {
  it("finds what was added, by digest or at an offset in a larger buffer, and nothing else", () => {
    const table = new DigestTable();
    for (let i = 0; i < 5000; i++) expect(table.add(digest(i), i % 7)).toBe(true);
    expect(table.size).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(table.get(digest(i))).toBe(i % 7);
    for (let i = 5000; i < 5100; i++) expect(table.get(digest(i))).toBe(-1);
    // The same digests packed 44 bytes apart, as in a pack index.
    const packed = Buffer.alloc(16 + 100 * 44);
    for (let i = 0; i < 100; i++) digest(i * 3).copy(packed, 16 + i * 44);
    for (let i = 0; i < 100; i++) expect(table.get(packed, 16 + i * 44)).toBe((i * 3) % 7);
  });

  it("adds a digest once: a second add keeps the first value", () => {
    const table = new DigestTable();
    const packed = Buffer.concat([Buffer.alloc(5), digest(1)]);
    expect(table.add(packed, 4, 5)).toBe(true);
    expect(table.add(digest(1), 9)).toBe(false);
    expect(table.get(digest(1))).toBe(4);
    expect(table.size).toBe(1);
  });

  it("keeps every digest across reserve() and growth", () => {
    const table = new DigestTable();
    table.add(digest(-1), 1);
    table.reserve(20_000);
    for (let i = 0; i < 30_000; i++) table.add(digest(i), 2);
    expect(table.size).toBe(30_001);
    expect(table.get(digest(-1))).toBe(1);
    expect(table.get(digest(29_999))).toBe(2);
  });
});

describe("parseDigestHex", () => {
  const into = new Uint8Array(32);
  it.each([
    ["lower-case hex", digest(5).toString("hex"), true],
    ["upper-case hex", digest(6).toString("hex").toUpperCase(), true],
    ["too short", "ab".repeat(31), false],
    ["too long", "ab".repeat(33), false],
    ["a non-hex digit", `${"ab".repeat(31)}ag`, false],
    ["empty", "", false],
  ])("%s", (_name, hex, ok) => {
    expect(parseDigestHex(hex, into)).toBe(ok);
    if (ok) expect(Buffer.from(into).toString("hex")).toBe(hex.toLowerCase());
  });
});
