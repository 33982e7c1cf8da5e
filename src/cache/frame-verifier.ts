/**
 * Decoding and hashing fetched frames on a second thread (frame-verify-worker.js).
 *
 * Why: in a cold fetch of an image the main thread hashed (SHA-256 of every chunk) and decoded (zstd)
 * for about a third of its time, and downloaded and wrote nothing meanwhile. The thread works on the
 * very buffers the download landed in and the decode buffer the cache is written from (shared memory:
 * direct-io.ts makes every aligned buffer a SharedArrayBuffer), so nothing is copied between threads but
 * a run's chunk list. The main thread words any error, as RepoReader.openFrame does for frames verified
 * on it.
 *
 * Used for large fetches only (ChunkSource decides): starting the thread costs tens of milliseconds.
 */
import { Worker } from "node:worker_threads";
import { CollectiveError } from "../errors.js";
import { Compression } from "../repo/compression.js";
import type { PackIndex } from "../repo/pack-index.js";

/** What went wrong in a run: the frame (its position in the run), the chunk (its entry, or -1 when the frame itself would not decode). */
export interface VerifyFailure {
  readonly frameInRun: number;
  readonly entry: number;
  readonly message: string;
}

/** Per frame in a job: stored offset, stored length, raw offset, raw length, first entry, entry count. */
const frameFields = 6;

interface Answer {
  seq: number;
  failed: number;
  entry?: number;
  message?: string;
}

export class FrameVerifier {
  private readonly worker: Worker;
  private seq = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (failure: VerifyFailure | undefined) => void; reject: (error: unknown) => void }
  >();
  private broken: unknown;

  constructor() {
    this.worker = new Worker(new URL("./frame-verify-worker.js", import.meta.url));
    this.worker.on("message", (answer: Answer) => {
      const waiter = this.waiting.get(answer.seq);
      this.waiting.delete(answer.seq);
      waiter?.resolve(
        answer.failed < 0
          ? undefined
          : { frameInRun: answer.failed, entry: answer.entry ?? -1, message: answer.message ?? "" },
      );
    });
    const fail = (error: unknown): void => {
      this.broken ??= new CollectiveError(
        "INTERNAL",
        `the frame verification thread stopped: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
      for (const waiter of this.waiting.values()) waiter.reject(this.broken);
      this.waiting.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`exit code ${code}`)));
  }

  /** Whether the thread can decode this pack's frames (zstd, or frames stored raw), not older codings. */
  static handles(index: PackIndex): boolean {
    return index.compression === Compression.zstd || index.compression === Compression.none;
  }

  /** Whether the thread can see these bytes: all in shared memory. */
  static shareable(stored: readonly Uint8Array[], raw: Buffer): boolean {
    return (
      raw.buffer instanceof SharedArrayBuffer && stored.every((s) => s.buffer instanceof SharedArrayBuffer)
    );
  }

  /**
   * Decodes `frames` of `index` (consecutive, fetched as `stored`) into `raw`, frame k at
   * `rawOffsets[k]`, and checks every chunk's hash. Resolves with undefined when all is well.
   */
  verify(
    index: PackIndex,
    frames: readonly number[],
    stored: readonly Uint8Array[],
    raw: Buffer,
    rawOffsets: readonly number[],
  ): Promise<VerifyFailure | undefined> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    let entryCount = 0;
    for (const frame of frames) entryCount += index.entriesOfFrame(frame).length;
    const table = new Float64Array(frames.length * frameFields);
    const entries = new Uint32Array(entryCount * 2);
    const hashes = new Uint8Array(entryCount * 32);
    const buffers: SharedArrayBuffer[] = [];
    let e = 0;
    for (let k = 0; k < frames.length; k++) {
      const frame = frames[k]!;
      const list = index.entriesOfFrame(frame);
      table.set(
        [
          stored[k]!.byteOffset,
          stored[k]!.length,
          raw.byteOffset + rawOffsets[k]!,
          index.frameRawLength(frame),
          e,
          list.length,
        ],
        k * frameFields,
      );
      buffers.push(stored[k]!.buffer as SharedArrayBuffer);
      for (let i = 0; i < list.length; i++, e++) {
        const entry = list[i]!;
        entries[2 * e] = index.offsetInFrame(entry);
        entries[2 * e + 1] = index.rawLength(entry);
        hashes.set(index.hashAt(entry), 32 * e);
      }
    }
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, {
        resolve: (failure) =>
          resolve(
            failure === undefined
              ? undefined
              : {
                  ...failure,
                  // The worker counts chunks across the run; the caller wants the pack's entry.
                  entry:
                    failure.entry < 0
                      ? -1
                      : entryAt(index, frames[failure.frameInRun]!, failure.entry, frames),
                },
          ),
        reject,
      });
      this.worker.postMessage({
        seq,
        compression: index.compression,
        frames: table,
        stored: buffers,
        raw: raw.buffer,
        entries,
        hashes,
      });
    });
  }

  /** Stops the thread (idempotent). */
  async close(): Promise<void> {
    this.broken ??= new CollectiveError("INTERNAL", "the frame verification thread was closed");
    await this.worker.terminate();
  }
}

/** The pack entry of the run-wide chunk number `runEntry`, which lies in `frame`. */
function entryAt(index: PackIndex, frame: number, runEntry: number, frames: readonly number[]): number {
  let before = 0;
  for (const f of frames) {
    if (f === frame) break;
    before += index.entriesOfFrame(f).length;
  }
  return index.entriesOfFrame(frame)[runEntry - before]!;
}
