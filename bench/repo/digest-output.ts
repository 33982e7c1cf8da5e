/**
 * What one SHA-256 per chunk costs by the form node returns the digest in: a Buffer (`hash(...,
 * "buffer")`, which cui used until 2026-12-07) against a "binary" string read back with charCodeAt
 * (src/repo/sha256.ts), over 1 KiB chunks as a block image has them, and 8 KiB ones as a tree has.
 * Every digest is compared with the expected one, so neither form can skip work.
 *
 *   npm run build && node dist/bench/repo/digest-output.js [ROUNDS]   (default 5)
 */
import { hash, randomBytes } from "node:crypto";
import { sha256Matches } from "../../src/repo/sha256.js";

const rounds = Number(process.argv[2] ?? 5);
const data = randomBytes(88 * 1024 * 1024);

for (const chunk of [1024, 8192]) {
  const count = data.length / chunk;
  const expected = Buffer.alloc(32 * count);
  for (let i = 0; i < count; i++)
    hash("sha256", data.subarray(i * chunk, (i + 1) * chunk), "buffer").copy(expected, 32 * i);
  const times: Record<string, number[]> = { buffer: [], binary: [] };
  for (let round = 0; round < rounds; round++) {
    let start = performance.now();
    for (let i = 0; i < count; i++) {
      const digest = hash("sha256", data.subarray(i * chunk, (i + 1) * chunk), "buffer");
      if (digest.compare(expected, 32 * i, 32 * i + 32) !== 0) throw new Error("digest differs");
    }
    times.buffer!.push(performance.now() - start);
    start = performance.now();
    for (let i = 0; i < count; i++) {
      if (!sha256Matches(data.subarray(i * chunk, (i + 1) * chunk), expected, 32 * i))
        throw new Error("digest differs");
    }
    times.binary!.push(performance.now() - start);
  }
  for (const [form, list] of Object.entries(times)) {
    const sorted = [...list].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    process.stdout.write(
      `${count} chunks of ${chunk} bytes, digest as ${form}: median ${median.toFixed(0)} ms (${((median * 1000) / count).toFixed(2)} µs a chunk), min ${sorted[0]!.toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)}\n`,
    );
  }
}
