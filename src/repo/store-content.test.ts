import { randomBytes } from "node:crypto";
import { createReadStream, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ChunkStore } from "./chunk-store.js";
import { TempDirs } from "./repo-test-kit.js";
import { storeContent, storeFile } from "./store-content.js";

const temp = new TempDirs();
afterAll(() => temp.cleanup());

/** Text that repeats with small changes (many chunks alike) followed by random bytes. */
function content(size: number): Buffer {
  const text = Buffer.from(
    Array.from({ length: Math.ceil(size / 40) }, (_, i) => `line ${i % 977} of a file that repeats\n`).join(
      "",
    ),
  );
  const half = Math.floor(size / 2);
  return Buffer.concat([text.subarray(0, half), randomBytes(size - half)]);
}

async function openStore(): Promise<ChunkStore> {
  const repo = temp.make("store-content");
  mkdirSync(join(repo, "packs"));
  mkdirSync(join(repo, "tmp"));
  return ChunkStore.open(repo, join(repo, "tmp"));
}

describe("storeFile", () => {
  // Around the window (2 MiB), the largest chunk (64 KiB), and empty and one-byte files.
  it.each([0, 1, 65_535, 65_536, 65_537, (2 << 20) - 1, 2 << 20, (2 << 20) + 65_536 + 3, 5_000_000])(
    "cuts the same chunks as a read stream of a %i-byte file",
    async (size) => {
      const path = join(temp.make("file"), "data");
      const bytes = content(size);
      writeFileSync(path, bytes);
      const store = await openStore();
      const fromFile = await storeFile(store, path);
      const fromStream = await storeContent(store, createReadStream(path, { highWaterMark: 1 << 16 }));
      expect(fromFile.size).toBe(size);
      expect(fromFile.chunks).toEqual(fromStream.chunks);
      if (size > 65_536) expect(fromFile.chunks.length).toBeGreaterThan(1);
      await store.abort();
    },
  );

  it("names the file that cannot be opened", async () => {
    const store = await openStore();
    await expect(storeFile(store, join(temp.make("missing"), "nothing"))).rejects.toThrow(/nothing/);
    await store.abort();
  });
});
