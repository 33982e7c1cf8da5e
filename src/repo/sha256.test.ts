import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256Into, sha256Matches } from "./sha256.js";

const reference = (data: Uint8Array): Buffer => createHash("sha256").update(data).digest();

// Inputs whose digests between them hold every byte value (latin1 must map each one back exactly).
const inputs: Array<[string, Uint8Array]> = [
  ["empty", new Uint8Array(0)],
  ["one zero byte", new Uint8Array(1)],
  ["a 1 KiB block of 0xff", new Uint8Array(1024).fill(0xff)],
  ["a view into shared memory", new Uint8Array(new SharedArrayBuffer(4096), 1000, 1024).fill(7)],
  ...Array.from({ length: 200 }, (_, i): [string, Uint8Array] => [`random ${i}`, randomBytes(i * 37)]),
];

describe("sha256Into and sha256Matches", () => {
  it("give node's digest for every input, at any offset", () => {
    const seen = new Set<number>();
    for (const [, data] of inputs) {
      const expected = reference(data);
      for (const byte of expected) seen.add(byte);
      const out = Buffer.alloc(40, 0xaa);
      sha256Into(data, out, 5);
      expect(out.subarray(5, 37)).toEqual(expected);
      expect(out.subarray(0, 5)).toEqual(Buffer.alloc(5, 0xaa)); // nothing written outside
      expect(out.subarray(37)).toEqual(Buffer.alloc(3, 0xaa));
      expect(sha256Matches(data, out, 5)).toBe(true);
    }
    expect(seen.size).toBe(256);
  });

  it.each([0, 1, 17, 31])("finds a digest that differs in byte %i", (position) => {
    const data = randomBytes(1024);
    const expected = Buffer.concat([Buffer.alloc(3), reference(data)]);
    expect(sha256Matches(data, expected, 3)).toBe(true);
    expected[3 + position]! ^= 0x80;
    expect(sha256Matches(data, expected, 3)).toBe(false);
  });
});
