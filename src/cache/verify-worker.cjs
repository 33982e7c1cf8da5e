// The frame verifier's thread (frame-verifier.ts): decodes fetched frames and checks every chunk's
// SHA-256, so that a fetch's verification runs on a second core while the main thread receives and
// writes. Plain CommonJS so that the same file runs from src/ (tests) and dist/ (the built CLI).
//
// It only reads and writes shared memory it is handed (the fetch's aligned buffers) and reports, per run
// of frames, either success or the first failure. It decides nothing else: the caller turns a failure
// into the same error an inline check gives (RepoReader.openFrame), and uses a run only once it passed.
"use strict";
const { parentPort } = require("node:worker_threads");
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

/**
 * One run: frames[k] is { stored, place, method, first, count }: the fetched bytes, where its raw bytes
 * go (exactly the frame's raw length), and its chunks' slice of `chunks` (offset and length pairs in the
 * frame) and `hashes` (32 bytes each). Returns undefined when every chunk matches, else the failure.
 */
function verifyRun(job) {
  const { frames, chunks, hashes } = job;
  for (let k = 0; k < frames.length; k++) {
    const { stored, place, method, first, count } = frames[k];
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
    for (let c = first; c < first + count; c++) {
      const offset = chunks[2 * c];
      const chunk = new Uint8Array(place.buffer, place.byteOffset + offset, chunks[2 * c + 1]);
      if (!sha256Matches(chunk, hashes, 32 * c)) return { frame: k, chunk: c - first };
    }
  }
  return undefined;
}

parentPort.on("message", (job) => {
  let failure;
  try {
    failure = verifyRun(job);
  } catch (error) {
    failure = { frame: -1, message: `the verifier failed: ${error.message}` };
  }
  parentPort.postMessage({ id: job.id, failure });
});

// Ready once the decoder loads: until then the caller verifies on its own thread.
zstdDecoder();
parentPort.postMessage({ ready: true });
