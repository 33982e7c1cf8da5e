import type { BigIntStats } from "node:fs";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ChangeCutoff, coarseMarginMs, fineMarginMs } from "./change-cutoff.js";
import { ImageQuickCheck } from "./image-quick-check.js";
import { TempDirs } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

const started = 1_800_000_000_123; // ms: a walk's start, not on a whole second
const ns = (ms: number, extraNs = 0): bigint => BigInt(ms) * 1_000_000n + BigInt(extraNs);

describe("ChangeCutoff", () => {
  it.each<[string, bigint, boolean]>([
    ["changed a minute before the walk", ns(started - 60_000, 17), false],
    ["changed just over the fine margin before", ns(started - fineMarginMs - 1, 17), false],
    ["changed just within the fine margin", ns(started - fineMarginMs + 1, 17), true],
    ["changed exactly at the margin", ns(started - fineMarginMs), true],
    ["changed while the walk ran", ns(started + 5, 17), true],
    ["changed in the future (a clock set back)", ns(started + 3_600_000, 17), true],
    ["on a whole second within the coarse margin", ns(1_800_000_000_000 - 1_000), true],
    ["on a whole second beyond the coarse margin", ns(1_800_000_000_000 - coarseMarginMs - 1_000), false],
  ])("%s: too recent is %s", (_, ctimeNs, expected) => {
    expect(new ChangeCutoff(started).tooRecent(ctimeNs)).toBe(expected);
  });
});

describe("ImageQuickCheck's record", () => {
  const stats = (ctimeNs: bigint): BigIntStats =>
    ({ size: 4096n, mtimeNs: ctimeNs, ctimeNs, ino: 12n }) as unknown as BigIntStats;
  const stored = { size: 4096, chunkSize: 4096, blocks: "b".repeat(64), chunks: 1 };

  it.each<[string, bigint, boolean]>([
    ["an image changed long ago is recorded", ns(Date.now() - 60_000, 1), true],
    ["an image changed just now is not: the next publish reads it", ns(Date.now(), 1), false],
  ])("%s", async (_, ctimeNs, recorded) => {
    const repo = temp.make("cutoff");
    mkdirSync(join(repo, "tmp", "quick-check"), { recursive: true });
    const quick = await ImageQuickCheck.load(repo, "/images/disk.raw");
    quick.record(stats(ctimeNs), stored, () => ["p".repeat(64)]);
    await quick.save();
    const again = await ImageQuickCheck.load(repo, "/images/disk.raw");
    expect(again.lookup(stats(ctimeNs)) !== undefined).toBe(recorded);
  });
});
