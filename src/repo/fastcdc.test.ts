import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunkBuffer, chunkStream, FastCdc, treeChunking } from "./fastcdc.js";

const cdc = new FastCdc(treeChunking);

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

describe("FastCDC", () => {
  it("cuts chunks between the minimum and maximum size, averaging near the target", () => {
    const chunks = chunkBuffer(randomBytes(8 << 20), cdc);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(treeChunking.minSize);
      expect(c.length).toBeLessThanOrEqual(treeChunking.maxSize);
    }
    const average = (8 << 20) / chunks.length;
    expect(average).toBeGreaterThan(treeChunking.avgSize * 0.6);
    expect(average).toBeLessThan(treeChunking.avgSize * 1.6);
  });

  it("cuts the same boundaries whatever the read size (streaming equals in-memory)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300_000 }), async (readSize) => {
        const data = randomBytes(600_000);
        const expected = chunkBuffer(data, cdc).map((c) => c.length);
        const streamed: number[] = [];
        for await (const c of chunkStream(pieces(data, readSize), cdc)) streamed.push(c.length);
        expect(streamed).toEqual(expected);
      }),
      { numRuns: 20 },
    );
  });

  it("keeps the chunks after an insertion: only the chunks around it change", () => {
    const data = randomBytes(2 << 20);
    const edited = Buffer.concat([
      data.subarray(0, 1_000_000),
      Buffer.from("inserted bytes"),
      data.subarray(1_000_000),
    ]);
    const before = new Set(chunkBuffer(data, cdc).map((c) => c.toString("base64")));
    const after = chunkBuffer(edited, cdc).map((c) => c.toString("base64"));
    const changed = after.filter((c) => !before.has(c));
    expect(changed.length).toBeLessThanOrEqual(2);
  });
});
