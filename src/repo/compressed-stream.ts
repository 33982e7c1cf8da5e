/**
 * Recognises compressed streams by their magic bytes and decompresses gzip and zstd (OCI's two layer
 * compressions); refuses xz and bzip2, which node cannot read without another native library.
 */
import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { CollectiveError } from "../errors.js";
import { zstdBinding } from "./zstd.js";

export type StreamFormat = "gzip" | "zstd" | "xz" | "bzip2" | "plain";

export function sniffCompression(head: Uint8Array): StreamFormat {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58) return "xz";
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return "bzip2";
  return "plain";
}

/** Passes a plain stream through, decompresses gzip and zstd, and rejects others naming the source. */
export async function* decompressed(
  source: AsyncIterable<Uint8Array>,
  label: string,
): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const head = Buffer.from(first.value);
  const format = sniffCompression(head);
  const all = async function* () {
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield Buffer.from(next.value);
    }
  };
  if (format === "plain") {
    yield* all();
    return;
  }
  if (format === "zstd") {
    yield* unzstd(all(), label);
    return;
  }
  if (format !== "gzip") {
    throw new CollectiveError(
      "UNSUPPORTED_COMPRESSION",
      `${label} is ${format}-compressed, which cannot be read here`,
      {
        hint: "recompress it with gzip or zstd, or decompress it first",
      },
    );
  }
  const gunzip = createGunzip();
  pipeline(Readable.from(all()), gunzip, () => undefined);
  try {
    for await (const piece of gunzip) yield piece as Buffer;
  } catch (error) {
    throw new CollectiveError("BAD_ARCHIVE", `${label}: gzip data is corrupt (${(error as Error).message})`);
  }
}

/** Output pieces of a zstd stream; the consumer pulls each, so a small input cannot fill memory. */
const ZSTD_OUTPUT = 1 << 17;
/** The largest window a zstd stream may ask for (128 MiB, zstd's own default limit; `--long` uses it). */
const ZSTD_WINDOW_LOG_MAX = 27;

/** Decompresses one or more concatenated zstd frames, one output piece at a time. */
async function* unzstd(source: AsyncIterable<Buffer>, label: string): AsyncGenerator<Buffer> {
  const binding = zstdBinding();
  const decoder = new binding.DCtx();
  decoder.setParameter(binding.DParameter.windowLogMax, ZSTD_WINDOW_LOG_MAX);
  let inFrame = false;
  for await (const input of source) {
    let rest: Buffer = input;
    for (;;) {
      const output = Buffer.allocUnsafe(ZSTD_OUTPUT);
      let produced: number;
      let consumed: number;
      let hint: number;
      try {
        [hint, produced, consumed] = decoder.decompressStream(output, rest);
      } catch (error) {
        throw new CollectiveError(
          "BAD_ARCHIVE",
          `${label}: zstd data is corrupt (${(error as Error).message})`,
        );
      }
      rest = rest.subarray(consumed);
      if (produced > 0) yield output.subarray(0, produced);
      // Done with this input once it is consumed and the decoder has nothing more to flush.
      if (rest.length === 0 && (produced < output.length || hint === 0)) {
        inFrame = hint !== 0;
        break;
      }
    }
  }
  if (inFrame) throw new CollectiveError("BAD_ARCHIVE", `${label}: zstd data ends in the middle of a frame`);
}
