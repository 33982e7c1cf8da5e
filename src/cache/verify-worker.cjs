// The frame verifier's thread (frame-verifier.ts): decodes fetched frames and checks every chunk's
// SHA-256, so that a fetch's verification runs on a second core while the main thread receives and
// writes. Plain CommonJS so that the same file runs from src/ (tests) and dist/ (the built CLI).
//
// It only reads and writes shared memory it is handed (the fetch's aligned buffers), reads the copies of
// pack indexes it is sent (checked by the caller when it opened them), and reports, per run of frames,
// either success or the first failure. It decides nothing else: the caller turns a failure
// into the same error an inline check gives (RepoReader.openFrame), and uses a run only once it passed.
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const { hash } = require("node:crypto");

/** The compression number of zstd in the pack format (repo/compression.ts); frames stored raw are any. */
const ZSTD = 3;

let decoder;
function zstdDecoder() {
  if (decoder === undefined) {
    const binding = require("zstd-napi/binding");
    decoder = new binding.DCtx();
  }
  return decoder;
}

/**
 * Whether the SHA-256 of `data` is the 32 bytes of `expected` at `at`: repo/sha256.ts's sha256Matches
 * (the digest as a latin1 string, whose character codes are its bytes: no Buffer allocated per chunk).
 */
function sha256Matches(data, expected, at) {
  const digest = hash("sha256", data, "binary");
  for (let k = 0; k < 32; k++) if (digest.charCodeAt(k) !== expected[at + k]) return false;
  return true;
}

/** The packs' indexes, by the key the caller gave each: { index, view, order, starts } (frame-verifier.ts). */
const packs = new Map();

/** A pack index entry: 44 bytes after a 16-byte header; the hash first, offset and length at 36 and 40. */
const IDX_HEADER = 16;
const IDX_ENTRY = 44;

/**
 * One run: frames[k] is { frame, stored, place, method }: the frame's number in its pack, the fetched
 * bytes, and where its raw bytes go (exactly the frame's raw length). Its chunks and their hashes come
 * from the pack's index, sent before the run. Returns undefined when every chunk matches, else the
 * failure: the frame's position in the run and the chunk's among the frame's entries.
 */
function verifyRun(job) {
  const pack = packs.get(job.pack);
  if (pack === undefined) return { frame: -1, message: `the verifier lacks pack ${job.pack}'s index` };
  const { index, view, order, starts } = pack;
  const { frames } = job;
  for (let k = 0; k < frames.length; k++) {
    const { frame, stored, place, method } = frames[k];
    if (stored.length === place.length) {
      place.set(stored); // stored raw: the format's rule (stored length = raw length)
    } else if (method === ZSTD) {
      let length;
      try {
        length = zstdDecoder().decompress(place, stored);
      } catch (error) {
        return { frame: k, message: `cannot decompress a frame: ${error.message}` };
      }
      if (length !== place.length)
        return { frame: k, message: `a frame decompressed to ${length} bytes, expected ${place.length}` };
    } else {
      return { frame: k, message: `compression method ${method} is not decoded here` };
    }
    const first = starts[frame];
    const end = starts[frame + 1];
    for (let c = first; c < end; c++) {
      const at = IDX_HEADER + IDX_ENTRY * order[c];
      const chunk = new Uint8Array(
        place.buffer,
        place.byteOffset + view.getUint32(at + 36),
        view.getUint32(at + 40),
      );
      if (!sha256Matches(chunk, index, at)) return { frame: k, chunk: c - first };
    }
  }
  return undefined;
}

parentPort.on("message", (message) => {
  if (message.kind === "pack") {
    const { pack, index, order, starts } = message;
    const view = new DataView(index.buffer, index.byteOffset, index.byteLength);
    packs.set(pack, { index, view, order, starts });
    return;
  }
  if (message.kind === "forget") {
    packs.delete(message.pack);
    return;
  }
  let failure;
  try {
    failure = verifyRun(message);
  } catch (error) {
    failure = { frame: -1, message: `the verifier failed: ${error.message}` };
  }
  parentPort.postMessage({ id: message.id, failure });
});

// Ready once the decoder loads: until then the caller verifies on its own thread. The flag in shared
// memory tells the caller at once; the message, when its event loop next turns.
zstdDecoder();
if (workerData?.readyFlag) Atomics.store(workerData.readyFlag, 0, 1);
parentPort.postMessage({ ready: true });
