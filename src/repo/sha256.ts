/**
 * SHA-256 of one chunk at a time, without the Buffer node makes for each digest.
 *
 * Why: a block image is hashed 1 KiB chunk by chunk (tens of thousands of calls per image), and
 * `hash("sha256", chunk, "buffer")` spends more on allocating its result (a Buffer has its own backing
 * store) than on hashing the chunk: 2.0-3.0 µs a 1 KiB chunk against 1.1-1.5 µs for the same digest as a
 * 32-character "binary" (latin1) string, whose character codes are the digest's bytes
 * (bench/repo/digest-output.ts; docs/benchmarks.md, tenth pass). verify-worker.cjs repeats sha256Matches,
 * as a CommonJS worker cannot import this module.
 */
import { hash } from "node:crypto";

/** Writes the SHA-256 of `data` into `out` at `at` (32 bytes). */
export function sha256Into(data: Uint8Array, out: Uint8Array, at = 0): void {
  const digest = hash("sha256", data, "binary");
  for (let k = 0; k < 32; k++) out[at + k] = digest.charCodeAt(k);
}

/** Whether the SHA-256 of `data` is the 32 bytes of `expected` at `at`. */
export function sha256Matches(data: Uint8Array, expected: Uint8Array, at = 0): boolean {
  const digest = hash("sha256", data, "binary");
  for (let k = 0; k < 32; k++) if (digest.charCodeAt(k) !== expected[at + k]) return false;
  return true;
}
