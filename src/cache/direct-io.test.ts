import { constants } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AlignedPool,
  alignDown,
  alignedBuffer,
  alignedView,
  alignUp,
  openMaybeDirect,
  pooledBuffers,
  writeFully,
} from "./direct-io.js";

let scratch: string;
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-direct-"));
});
afterEach(async () => {
  delete process.env.COLLECTIVE_DIRECT_IO;
  await rm(scratch, { recursive: true, force: true });
});

describe("direct I/O", () => {
  it.each([
    [0, 0, 0],
    [1, 0, 4096],
    [4096, 4096, 4096],
    [4097, 4096, 8192],
  ])("aligns %i down to %i and up to %i", (n, down, up) => {
    expect(alignDown(n)).toBe(down);
    expect(alignUp(n)).toBe(up);
  });

  it("writes aligned buffers with O_DIRECT where the filesystem has it, and refuses misaligned ones there", async () => {
    const path = join(scratch, "f");
    const { handle, direct } = await openMaybeDirect(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const buffer = alignedBuffer(3 * 4096);
      for (let i = 0; i < buffer.length; i++) buffer[i] = i % 251;
      await writeFully(handle, buffer.subarray(0, 3 * 4096), 4096);
      if (direct) {
        // The proof that O_DIRECT is in effect (and that alignedBuffer's alignment is what makes it work).
        await expect(handle.write(buffer, 1, 4096, 0)).rejects.toMatchObject({ code: "EINVAL" });
      }
    } finally {
      await handle.close();
    }
    const back = await readFile(path);
    expect(back.length).toBe(4 * 4096);
    expect(back.subarray(4096, 4096 + 300)).toEqual(
      Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251)),
    );
  });

  it("opens buffered when COLLECTIVE_DIRECT_IO=0", async () => {
    process.env.COLLECTIVE_DIRECT_IO = "0";
    const { handle, direct } = await openMaybeDirect(
      join(scratch, "g"),
      constants.O_RDWR | constants.O_CREAT,
      0o600,
    );
    await handle.close();
    expect(direct).toBe(false);
  });

  it("opens buffered when the caller does not want O_DIRECT", async () => {
    const { handle, direct } = await openMaybeDirect(
      join(scratch, "h"),
      constants.O_RDWR | constants.O_CREAT,
      0o600,
      false,
    );
    await handle.close();
    expect(direct).toBe(false);
  });

  it("reuses pooled buffers, the smallest that fits, and rounds sizes up to powers of two from 1 MiB", () => {
    const pool = new AlignedPool();
    const first = pool.acquire(10);
    expect(first.length).toBe(1024 * 1024);
    pool.release(first);
    expect(pool.acquire(5000)).toBe(first);
    const big = pool.acquire(3 * 1024 * 1024);
    expect(big.length).toBe(4 * 1024 * 1024);
    pool.release(big);
    pool.release(first);
    expect(pool.acquire(100)).toBe(first);
    expect(pool.acquire(100)).toBe(big);
  });

  it(`keeps at most ${pooledBuffers} buffers, dropping the smallest`, () => {
    const pool = new AlignedPool();
    const small = pool.acquire(1);
    const others = Array.from({ length: pooledBuffers }, () => pool.acquire(2 * 1024 * 1024));
    pool.release(small);
    for (const buffer of others) pool.release(buffer);
    const taken = Array.from({ length: pooledBuffers + 1 }, () => pool.acquire(1));
    expect(taken).not.toContain(small);
    expect(taken.filter((buffer) => others.includes(buffer))).toHaveLength(pooledBuffers);
  });

  it("makes buffers of shared memory, which the verifier thread can decode into", () => {
    expect(alignedBuffer(4096).buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(new AlignedPool().acquire(1).buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  describe("alignedView: parts already where one aligned write wants them", () => {
    const buffer = alignedBuffer(64 * 1024);
    const at = (offset: number, length: number): Buffer => buffer.subarray(offset, offset + length);
    it.each([
      ["back to back from an aligned start", [at(4096, 5000), at(9096, 3192)], 8192, undefined, true],
      ["at the offsets asked for", [at(0, 100), at(4096, 4096)], 8192, (k: number) => k * 4096, true],
      ["with a gap where none was asked for", [at(0, 100), at(4096, 4096)], 8192, undefined, false],
      ["from an unaligned start", [at(100, 4096)], 4096, undefined, false],
      ["over an unaligned length", [at(0, 5000)], 5000, undefined, false],
      ["past the end of the buffer", [at(61440, 4096)], 8192, undefined, false],
      ["in an ordinary buffer", [Buffer.alloc(8192)], 8192, undefined, false],
      ["in two buffers", [at(0, 4096), alignedBuffer(4096).subarray(0, 4096)], 8192, undefined, false],
    ])("%s", (_, parts, length, offsets, found) => {
      const view = alignedView(parts, length, offsets);
      expect(view !== undefined).toBe(found);
      if (view !== undefined) {
        expect(view.byteOffset).toBe(parts[0]!.byteOffset);
        expect(view.length).toBe(length);
      }
    });
  });
});
