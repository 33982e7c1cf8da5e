/**
 * What the HTTP client costs to fetch a pack's bytes: a fresh process reads a 53 MiB file from
 * `cui repo serve`'s server over loopback in 4 MiB ranges, 16 MiB per readRanges call, into pooled
 * buffers (as a cold fetch does), and reports its wall and CPU time. Several builds of cui run by turns
 * (`label=DIR`, DIR holding that build's dist/), so their clients are compared under the same load.
 * Every range is compared with the file, so no client can skip work.
 *
 *   npm run build && node dist/bench/repo/http-read.js [ROUNDS] [label=DIR ...]
 *   (default: 8 rounds of this build alone)
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

const fileBytes = 53 * 1024 * 1024;
const rangeBytes = 4 * 1024 * 1024;
const rangesPerCall = 4;

if (process.argv[2] === "--child") {
  // One cold fetch: argv = --child DIST URL SEED
  const [, , , dist, url, seed] = process.argv;
  const { HttpTransport } = await import(pathToFileURL(join(dist!, "src/repo/http-transport.js")).href);
  const { alignedPool } = await import(pathToFileURL(join(dist!, "src/cache/direct-io.js")).href);
  const expected = expand(Buffer.from(seed!, "hex"));
  const transport = new HttpTransport(url!);
  // Only the reads are timed: each call's wall and CPU time are summed, the comparisons left out.
  let wall = 0;
  let cpuMicros = 0;
  for (let at = 0; at < fileBytes; at += rangeBytes * rangesPerCall) {
    const ranges: Array<{ offset: number; length: number }> = [];
    for (let k = 0; k < rangesPerCall && at + k * rangeBytes < fileBytes; k++)
      ranges.push({
        offset: at + k * rangeBytes,
        length: Math.min(rangeBytes, fileBytes - at - k * rangeBytes),
      });
    const borrowed: Buffer[] = [];
    const cpu = process.cpuUsage();
    const start = performance.now();
    const parts: Uint8Array[] = await transport.readRanges("data.bin", ranges, {
      allocate: (length: number) => {
        const buffer: Buffer = alignedPool.acquire(length);
        borrowed.push(buffer);
        return buffer;
      },
    });
    wall += performance.now() - start;
    const used = process.cpuUsage(cpu);
    cpuMicros += used.user + used.system;
    parts.forEach((part, k) => {
      const { offset, length } = ranges[k]!;
      if (
        !Buffer.from(part.buffer, part.byteOffset, part.byteLength).equals(
          expected.subarray(offset, offset + length),
        )
      )
        throw new Error(`range at ${offset} differs`);
    });
    for (const buffer of borrowed) alignedPool.release(buffer);
  }
  transport.close();
  process.stdout.write(`${JSON.stringify({ wall, cpu: cpuMicros / 1000 })}\n`);
  process.exit(0);
}

/** The file's bytes: incompressible, made again from a seed by each process (not part of its times). */
function expand(seed: Buffer): Buffer {
  const out = Buffer.allocUnsafe(fileBytes);
  for (let at = 0; at < fileBytes; at += seed.length) seed.copy(out, at);
  for (let at = 0; at < fileBytes; at += 4096) out.writeUInt32LE(at, at); // no two pages alike
  return out;
}

const rounds = Number(process.argv[2] ?? 8);
const here = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const builds = process.argv.slice(3).map((spec) => {
  const [label, dir] = spec.split("=");
  return { label: label!, dist: join(resolve(dir!), "dist") };
});
if (builds.length === 0) builds.push({ label: "this", dist: here });

const { startRepoServer } = await import("../../src/repo/serve.js");
const root = mkdtempSync(join(tmpdir(), "collective-http-read-"));
const seed = randomBytes(32 * 1024); // passed in argv (as hex: under its 128 KiB limit per argument)
writeFileSync(join(root, "data.bin"), expand(seed));
const server = await startRepoServer({ root, host: "127.0.0.1", port: 0 });
const times = new Map(builds.map(({ label }) => [label, { wall: [] as number[], cpu: [] as number[] }]));
try {
  for (let round = 0; round < rounds; round++) {
    for (const { label, dist } of builds) {
      // Asynchronously: the server runs in this process.
      const child = await promisify(execFile)(
        process.execPath,
        [fileURLToPath(import.meta.url), "--child", dist, server.url, seed.toString("hex")],
        { encoding: "utf8", maxBuffer: 1 << 20 },
      ).catch((error: unknown) => {
        throw new Error(`${label} failed: ${String(error)}`);
      });
      const { wall, cpu } = JSON.parse(child.stdout) as { wall: number; cpu: number };
      times.get(label)!.wall.push(wall);
      times.get(label)!.cpu.push(cpu);
    }
  }
} finally {
  await server.close(1000);
  rmSync(root, { recursive: true, force: true });
}
const median = (list: number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
for (const [label, { wall, cpu }] of times) {
  process.stdout.write(
    `${label}: 53 MiB in 4 MiB ranges, median wall ${median(wall).toFixed(0)} ms [${Math.min(...wall).toFixed(0)}-${Math.max(...wall).toFixed(0)}], CPU ${median(cpu).toFixed(0)} ms [${Math.min(...cpu).toFixed(0)}-${Math.max(...cpu).toFixed(0)}] (${rounds} fresh processes)\n`,
  );
}
