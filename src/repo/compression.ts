/**
 * Frame compression. A frame is a run of consecutive new chunks (about 64 KiB raw) compressed as one
 * stream, so the coder's per-call cost is paid once per frame. Synchronously: node:zlib's asynchronous
 * calls (on the thread pool) were measured at 2.5 times the CPU time per 64 KiB frame, more than a second
 * core gives back.
 *
 * Writers use Zstandard at level 1 (zstd-napi, built from its bundled C sources at install: node 20 has no
 * zstd). Against brotli at quality 0, the fastest node:zlib coder, on 64 KiB frames of this machine's
 * files (bench/repo/frame-codecs.ts): 1-11% smaller, compression 1.2 to 1.6 times faster and
 * decompression 2.9 to 4.9 times faster. Readers still decode deflate and brotli packs written before.
 * A frame is stored raw when compressing it does not make it smaller (the format's rule: stored length =
 * raw length means raw).
 */
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  deflateRawSync,
  inflateRawSync,
} from "node:zlib";
import { CollectiveError } from "../errors.js";
import { type ZstdBinding, type ZstdDecoder, zstdBinding } from "./zstd.js";

export const Compression = { none: 0, deflate: 1, brotli: 2, zstd: 3 } as const;
export type CompressionMethod = (typeof Compression)[keyof typeof Compression];

/** Output buffers of a whole frame: zlib's default of 16 KiB made every call loop and concatenate. */
const FRAME_CHUNK = 1 << 17;

const brotliOptions = {
  chunkSize: FRAME_CHUNK,
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 0,
    [constants.BROTLI_PARAM_LGWIN]: 17,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_GENERIC,
  },
};

/** The one zstd level writers use (see the top of this file). */
const ZSTD_LEVEL = 1;

/** Contexts reused by every frame: creating one per call would cost more than a small frame's coding. */
let zstd: { binding: ZstdBinding; cctx: InstanceType<ZstdBinding["CCtx"]>; dctx: ZstdDecoder } | undefined;
function zstdCoder(): NonNullable<typeof zstd> {
  if (zstd === undefined) {
    const binding = zstdBinding();
    zstd = { binding, cctx: new binding.CCtx(), dctx: new binding.DCtx() };
  }
  return zstd;
}

/** Where a zstd frame is compressed: the result is copied out by the caller before the next frame. */
let zstdScratch = Buffer.alloc(0);

function zstdCompress(raw: Uint8Array): Uint8Array {
  const coder = zstdCoder();
  const bound = coder.binding.compressBound(raw.length);
  if (zstdScratch.length < bound) zstdScratch = Buffer.allocUnsafe(Math.max(bound, FRAME_CHUNK));
  const length = coder.cctx.compress(zstdScratch, raw, ZSTD_LEVEL);
  return zstdScratch.subarray(0, length);
}

/**
 * Decodes into exactly rawLength bytes (of `into` when given, else a new buffer): a frame that claims or
 * holds more fails, it cannot grow.
 */
function zstdDecompress(stored: Uint8Array, rawLength: number, into: Buffer | undefined): Buffer {
  const raw = into?.subarray(0, rawLength) ?? Buffer.allocUnsafe(rawLength);
  const length = zstdCoder().dctx.decompress(raw, stored);
  return length === rawLength ? raw : raw.subarray(0, length);
}

const seen = new Uint8Array(256);

/**
 * A cheap test for data that will not compress (random, already compressed): nearly every byte value in
 * a 1 KiB sample. Text and executables use far fewer. Skipping those chunks saves the compressor's time,
 * which is most of a publish's time for new data.
 */
export function looksIncompressible(raw: Uint8Array): boolean {
  if (raw.length < 1024) return false;
  seen.fill(0);
  let distinct = 0;
  const step = Math.floor(raw.length / 1024);
  for (let i = 0; i < 1024; i++) {
    const b = raw[i * step]!;
    if (seen[b] === 0) {
      seen[b] = 1;
      distinct++;
    }
  }
  return distinct > 230;
}

/**
 * Returns the bytes to store: compressed when that is smaller, otherwise the raw frame itself. A
 * compressed result may live in a scratch buffer that the next call overwrites: copy it before then.
 */
export function compressFrame(raw: Uint8Array, method: CompressionMethod): Uint8Array {
  if (method === Compression.none || raw.length < 64) return raw;
  const packed =
    method === Compression.zstd
      ? zstdCompress(raw)
      : method === Compression.brotli
        ? brotliCompressSync(raw, brotliOptions)
        : deflateRawSync(raw, { level: 1, chunkSize: FRAME_CHUNK });
  return packed.length < raw.length ? packed : raw;
}

/**
 * Inverts compressFrame; checks the length so a corrupt or hostile frame cannot balloon. A zstd frame is
 * decoded into `into` when given (at least rawLength bytes, reused by a caller that copies the result out
 * before the next call: fresh memory is slow to touch here); other methods, and frames stored raw, return
 * their own buffer.
 */
export function decompressFrame(
  stored: Uint8Array,
  rawLength: number,
  method: number,
  into?: Buffer,
): Buffer {
  if (stored.length === rawLength) return Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  let raw: Buffer;
  try {
    // One output buffer of the frame's size (zlib's minimum is 64 bytes).
    const options = { maxOutputLength: rawLength + 1, chunkSize: Math.max(64, rawLength + 1) };
    if (method === Compression.zstd) raw = zstdDecompress(stored, rawLength, into);
    else if (method === Compression.brotli) raw = brotliDecompressSync(stored, options);
    else if (method === Compression.deflate) raw = inflateRawSync(stored, options);
    else throw new Error(`unknown compression method ${method}`);
  } catch (error) {
    throw new CollectiveError("CHUNK_CORRUPT", `cannot decompress a frame: ${(error as Error).message}`);
  }
  if (raw.length !== rawLength) {
    throw new CollectiveError(
      "CHUNK_CORRUPT",
      `a frame decompressed to ${raw.length} bytes, expected ${rawLength}`,
    );
  }
  return raw;
}
