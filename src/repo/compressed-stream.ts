/** Recognises compressed streams by their magic bytes and decompresses gzip; refuses what Node 20 cannot read. */
import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { CollectiveError } from "../errors.js";

export type StreamFormat = "gzip" | "zstd" | "xz" | "bzip2" | "plain";

export function sniffCompression(head: Uint8Array): StreamFormat {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58) return "xz";
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return "bzip2";
  return "plain";
}

/** Passes a plain stream through, gunzips a gzip one, and rejects other compressions naming the source. */
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
  if (format !== "gzip") {
    throw new CollectiveError(
      "UNSUPPORTED_COMPRESSION",
      `${label} is ${format}-compressed, which cannot be read here`,
      {
        hint: "recompress it with gzip, or decompress it first",
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
