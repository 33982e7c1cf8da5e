// @ts-check
/**
 * The thread behind frame-verifier.ts: decodes fetched frames (zstd, or stored raw) and checks every
 * chunk in them against its SHA-256, in memory shared with the main thread, so that a fetch's hashing
 * and decoding run beside its downloading and writing instead of between them.
 *
 * Plain JavaScript, with no import of the project's TypeScript: node starts it as it is, from src/ under
 * the tests as from dist/. It reports what failed; the main thread words the error (frame-verifier.ts).
 *
 * A job: { seq, compression, frames: Float64Array of FRAME_FIELDS per frame, stored: the frames'
 * SharedArrayBuffers by frame, raw: the SharedArrayBuffer to decode into, entries: Uint32Array of
 * [offsetInFrame, rawLength] per chunk, hashes: Uint8Array of 32 bytes per chunk }.
 * The answer: { seq, failed: -1 } or { seq, failed: frame, entry: chunk or -1, message }.
 */
import { hash } from "node:crypto";
import { createRequire } from "node:module";
import { parentPort } from "node:worker_threads";

/** Per frame: stored offset, stored length, raw offset, raw length, first entry, entry count. */
const FRAME_FIELDS = 6;
const ZSTD = 3;

/** @type {{ DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number } } | undefined} */
let binding;
/** @type {{ decompress(dst: Uint8Array, src: Uint8Array): number } | undefined} */
let dctx;

/**
 * @param {{ seq: number, compression: number, frames: Float64Array, stored: SharedArrayBuffer[],
 *   raw: SharedArrayBuffer, entries: Uint32Array, hashes: Uint8Array }} job
 */
function verify(job) {
  const raw = Buffer.from(job.raw);
  for (let f = 0; f * FRAME_FIELDS < job.frames.length; f++) {
    const at = f * FRAME_FIELDS;
    const [storedOffset, storedLength, rawOffset, rawLength, firstEntry, entryCount] = job.frames.subarray(
      at,
      at + FRAME_FIELDS,
    );
    const stored = new Uint8Array(
      /** @type {SharedArrayBuffer} */ (job.stored[f]),
      storedOffset,
      storedLength,
    );
    const place = raw.subarray(rawOffset, rawOffset + /** @type {number} */ (rawLength));
    if (storedLength === rawLength) {
      place.set(stored); // stored raw: compressing did not make it smaller
    } else {
      let length;
      try {
        if (job.compression !== ZSTD)
          throw new Error(`compression method ${job.compression} is not decoded here`);
        binding ??= createRequire(import.meta.url)("zstd-napi/binding");
        dctx ??= new /** @type {NonNullable<typeof binding>} */ (binding).DCtx();
        length = dctx.decompress(place, stored);
      } catch (error) {
        return {
          seq: job.seq,
          failed: f,
          entry: -1,
          message: `cannot decompress a frame: ${/** @type {Error} */ (error).message}`,
        };
      }
      if (length !== rawLength) {
        return {
          seq: job.seq,
          failed: f,
          entry: -1,
          message: `a frame decompressed to ${length} bytes, expected ${rawLength}`,
        };
      }
    }
    for (
      let e = /** @type {number} */ (firstEntry);
      e < /** @type {number} */ (firstEntry) + /** @type {number} */ (entryCount);
      e++
    ) {
      const offset = /** @type {number} */ (job.entries[2 * e]);
      const actual = hash(
        "sha256",
        place.subarray(offset, offset + /** @type {number} */ (job.entries[2 * e + 1])),
        "buffer",
      );
      if (!actual.equals(job.hashes.subarray(32 * e, 32 * e + 32)))
        return { seq: job.seq, failed: f, entry: e, message: "" };
    }
  }
  return { seq: job.seq, failed: -1 };
}

parentPort?.on("message", (job) => parentPort?.postMessage(verify(job)));
