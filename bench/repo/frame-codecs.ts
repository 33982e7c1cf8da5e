/**
 * The frame codecs side by side: how small and how fast each of the repository format's compression
 * methods makes 64 KiB frames of real files, through the same compressFrame/decompressFrame a publish and
 * a fetch call. It is why packs are written with zstd (docs/benchmarks.md, fifth pass).
 *
 *   npm run build && node dist/bench/repo/frame-codecs.js [--runs N] [DIR ...]
 *   defaults: 3 runs; /usr/share/doc /usr/lib/x86_64-linux-gnu /usr/share/perl
 *
 * Each directory's regular files (at most 256 MiB of them, in walk order) are laid end to end and cut
 * into 64 KiB frames, as a publish of new data cuts them. Frames are not pre-screened as incompressible,
 * so the ratio includes whatever the compressor saves on binaries. Throughputs are raw MiB per second of
 * one thread's wall time, median of the runs; ratio = stored bytes / raw bytes.
 */
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  Compression,
  type CompressionMethod,
  compressFrame,
  decompressFrame,
} from "../../src/repo/compression.js";
import { FRAME_TARGET } from "../../src/repo/pack-writer.js";

const LIMIT = 256 << 20;
const methods: ReadonlyArray<[string, CompressionMethod]> = [
  ["zstd level 1 (written now)", Compression.zstd],
  ["brotli quality 0 (before)", Compression.brotli],
  ["deflate level 1 (format 1)", Compression.deflate],
];

function usage(message: string): never {
  process.stderr.write(
    `frame-codecs: ${message}\nusage: node dist/bench/repo/frame-codecs.js [--runs N] [DIR ...]\n`,
  );
  process.exit(2);
}

function collect(dir: string, out: Buffer[], total: { bytes: number }): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return; // unreadable directories are skipped, as a sample they do not matter
  }
  for (const name of names) {
    if (total.bytes >= LIMIT) return;
    const path = join(dir, name);
    const info = lstatSync(path);
    if (info.isDirectory()) collect(path, out, total);
    else if (info.isFile() && info.size > 0) {
      const bytes = readFileSync(path);
      out.push(bytes);
      total.bytes += bytes.length;
    }
  }
}

function framesOf(dir: string): Buffer[] {
  const files: Buffer[] = [];
  const total = { bytes: 0 };
  collect(dir, files, total);
  const all = Buffer.concat(files).subarray(0, LIMIT);
  const frames: Buffer[] = [];
  for (let at = 0; at < all.length; at += FRAME_TARGET) frames.push(all.subarray(at, at + FRAME_TARGET));
  return frames;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Row {
  ratio: number;
  compress: number;
  decompress: number;
}

function measure(frames: Buffer[], method: CompressionMethod, runs: number): Row {
  const raw = frames.reduce((sum, frame) => sum + frame.length, 0);
  const mib = raw / (1 << 20);
  const compressRates: number[] = [];
  const decompressRates: number[] = [];
  let stored = 0;
  // One untimed run first: it loads the coder and lets the JIT settle.
  for (let run = 0; run <= runs; run++) {
    const packed: Uint8Array[] = new Array(frames.length);
    let started = process.hrtime.bigint();
    for (let i = 0; i < frames.length; i++)
      packed[i] = Uint8Array.prototype.slice.call(compressFrame(frames[i]!, method));
    const compressSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    stored = packed.reduce((sum, frame) => sum + frame.length, 0);
    started = process.hrtime.bigint();
    for (let i = 0; i < frames.length; i++) decompressFrame(packed[i]!, frames[i]!.length, method);
    const decompressSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (run === 0) continue;
    compressRates.push(mib / compressSeconds);
    decompressRates.push(mib / decompressSeconds);
  }
  return { ratio: stored / raw, compress: median(compressRates), decompress: median(decompressRates) };
}

function main(): void {
  const args = process.argv.slice(2);
  let runs = 3;
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--runs") {
      runs = Number(args[++i]);
      if (!Number.isInteger(runs) || runs < 1)
        usage(`--runs needs a whole number of at least 1, not ${args[i]}`);
    } else if (arg.startsWith("-")) usage(`unknown option ${arg}`);
    else dirs.push(arg);
  }
  if (dirs.length === 0) dirs.push("/usr/share/doc", "/usr/lib/x86_64-linux-gnu", "/usr/share/perl");
  process.stdout.write(
    `Frames of ${FRAME_TARGET / 1024} KiB, median of ${runs} runs; MiB/s of raw bytes on one thread; ratio = stored / raw.\n\n`,
  );
  process.stdout.write(
    "| data | MiB | method | ratio | compress MiB/s | decompress MiB/s | compress / brotli's | decompress / brotli's |\n",
  );
  process.stdout.write("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const dir of dirs) {
    const frames = framesOf(dir);
    if (frames.length === 0) usage(`${dir} holds no readable regular files`);
    const mib = frames.reduce((sum, frame) => sum + frame.length, 0) / (1 << 20);
    const rows = methods.map(([name, method]) => [name, measure(frames, method, runs)] as const);
    const brotli = rows.find(([name]) => name.startsWith("brotli"))![1];
    for (const [name, row] of rows) {
      process.stdout.write(
        `| ${dir} | ${mib.toFixed(0)} | ${name} | ${row.ratio.toFixed(3)} | ${row.compress.toFixed(0)} | ${row.decompress.toFixed(0)} | ${(row.compress / brotli.compress).toFixed(2)}x | ${(row.decompress / brotli.decompress).toFixed(2)}x |\n`,
      );
    }
  }
}

main();
