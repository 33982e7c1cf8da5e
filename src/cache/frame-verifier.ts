/**
 * Verifying fetched frames before anything uses them: decode each frame into its place and check every
 * chunk in it against its SHA-256. Two implementations of one contract (frame-verifier.test.ts runs the
 * same suite on both):
 *
 * - InlineFrameVerifier, on the calling thread (RepoReader.openFrame);
 * - ThreadFrameVerifier, on a worker thread (verify-worker.cjs). Hashing and decoding are a third of a
 *   cold fetch's CPU time on the main thread; there they ran one after the other with receiving and
 *   writing, here they run on a second core beside them. The worker reads and writes the fetch's
 *   buffers in place: they are shared memory (direct-io.ts), so nothing is copied to or from it.
 *
 * The thread verifier falls back to the inline one for what it cannot take (frames in memory that is not
 * shared, deflate or brotli packs, the moments before the thread is up, a thread that died), so a caller
 * never has to care which one ran. Either way a failure is the same CollectiveError, naming the
 * repository, the version, the chunk and the frame's offset in its pack.
 */
import { Worker } from "node:worker_threads";
import { CollectiveError, isCollectiveError } from "../errors.js";
import { Compression } from "../repo/compression.js";
import type { Manifest } from "../repo/format.js";
import type { PackIndex } from "../repo/pack-index.js";
import type { RepoReader } from "../repo/repo-reader.js";

/** Consecutive frames of one pack, as fetched, and where each one's raw bytes are to go. */
export interface FetchedRun {
  readonly pack: PackIndex;
  readonly frames: readonly number[];
  readonly stored: readonly Uint8Array[];
  /** One per frame: exactly the frame's raw length, in memory no one else uses until this resolves. */
  readonly places: readonly Buffer[];
}

export interface FrameVerifier {
  /**
   * The frames' raw bytes (views of their places), once every chunk in them matched its hash; else a
   * CHUNK_CORRUPT error for the first frame that failed.
   */
  verify(run: FetchedRun): Promise<Buffer[]>;
}

export class InlineFrameVerifier implements FrameVerifier {
  constructor(
    private readonly reader: RepoReader,
    private readonly manifest: Manifest,
  ) {}

  async verify(run: FetchedRun): Promise<Buffer[]> {
    return this.verifyNow(run);
  }

  /** verify() without the promise: the thread verifier's fallback runs it synchronously. */
  verifyNow(run: FetchedRun): Buffer[] {
    const { pack, frames, stored, places } = run;
    return frames.map((frame, k) => {
      const place = places[k]!;
      let raw: Buffer;
      try {
        raw = this.reader.openFrame(this.manifest, pack, frame, stored[k]!, place);
      } catch (error) {
        throw atOffset(error, pack, frame);
      }
      return raw.buffer === place.buffer ? raw : place.subarray(0, raw.copy(place)); // a frame stored raw
    });
  }

  /** The error for a frame the thread found bad, worded as verifyNow's. */
  failure(run: FetchedRun, k: number, failure: { detail: string } | { chunk: number }): CollectiveError {
    const { pack } = run;
    const frame = run.frames[k]!;
    const reason =
      "chunk" in failure ? { entry: pack.entriesOfFrame(frame)[failure.chunk]! } : { detail: failure.detail };
    return atOffset(
      this.reader.frameError(this.manifest, pack, frame, reason),
      pack,
      frame,
    ) as CollectiveError;
  }
}

/** A frame's error with where the frame lies in its pack, and what to do. */
function atOffset(error: unknown, pack: PackIndex, frame: number): unknown {
  if (!isCollectiveError(error)) return error;
  return new CollectiveError(error.code, `${error.message} at offset ${pack.frameAt(frame).offset}`, {
    hint: "The repository is damaged or the server altered the data; nothing of it was cached. Run `cui repo verify` on the repository.",
  });
}

/** What the thread found wrong with a run: which frame, and a chunk in it or why it did not decode. */
interface ThreadFailure {
  /** The frame's position in the run; -1 when the thread itself failed (the run is checked here instead). */
  readonly frame: number;
  readonly chunk?: number;
  readonly message?: string;
}

interface WorkerReply {
  readonly id?: number;
  readonly ready?: boolean;
  readonly failure?: ThreadFailure;
}

/** The thread exited before it answered: the run is checked on the calling thread. */
const lostRun = Symbol("lost");

/**
 * How long the verifier thread may sit idle (no run in flight) before it exits: it holds up to
 * keptPackIndexes pack indexes (about 11 MB each for a 1 GiB image) and its own heap, which a daemon
 * would otherwise keep between fetches for as long as it runs. Starting it again costs about 60-100 ms
 * of a second core. Settable for tests.
 */
export const verifierThreadIdle = { ms: 30_000 };

/** The thread's code; settable for tests (a script that fails to start). */
export const verifierThreadScript = { url: new URL("./verify-worker.cjs", import.meta.url) };

/**
 * Threads in a row that may fail before they are up: after that the process checks frames inline for
 * good, instead of paying for a thread that cannot start on every fetch (a limit on threads or memory).
 */
const maxFailedStarts = 2;

/**
 * The process's verifier thread, shared by every fetch (a daemon runs several): started by the first
 * fetch big enough, or earlier by startVerifierThread(). It keeps the process alive only while runs are
 * in flight, and exits after verifierThreadIdle.ms without one. A thread that failed or exited is
 * replaced by the next fetch that asks, unless maxFailedStarts threads in a row failed to come up.
 */
class VerifierThread {
  private static current: VerifierThread | undefined;
  private static failedStarts = 0;

  /** The thread, started if need be; throws when threads have failed to start maxFailedStarts times. */
  static shared(): VerifierThread {
    if (VerifierThread.current === undefined || VerifierThread.current.stopped) {
      if (VerifierThread.failedStarts >= maxFailedStarts)
        throw new CollectiveError(
          "INTERNAL",
          `the frame verifier's thread failed to start ${maxFailedStarts} times; frames are checked on the main thread`,
        );
      VerifierThread.current = new VerifierThread();
    }
    return VerifierThread.current;
  }

  /** Forgets earlier failed starts; for tests. */
  static forgetFailedStarts(): void {
    VerifierThread.failedStarts = 0;
  }

  /** Whether a thread is up or on its way (without starting one). */
  static get started(): boolean {
    return VerifierThread.current !== undefined && !VerifierThread.current.stopped;
  }

  private readonly worker: Worker;
  private ready = false;
  /**
   * Set to 1 by the thread itself once it is up. Its "ready" message reaches this thread only when the
   * event loop turns, and a fetch verifying its first runs inline does not let it turn: in a timeline,
   * three runs of a block map (140 ms) were checked inline after the thread was up.
   */
  private readonly readyFlag = new Int32Array(new SharedArrayBuffer(4));
  private stopped = false;
  /** Stopped by terminate() (tests): not a failure to start. */
  private terminated = false;
  /** Stopped for being idle (not failed): a fetch that still holds it takes the next thread. */
  retired = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private nextId = 0;
  /** The packs whose indexes the thread has (at most keptPackIndexes), least recently used first. */
  private readonly packs = new Map<PackIndex, number>();
  private nextPackKey = 0;
  private readonly pending = new Map<number, (reply: ThreadFailure | undefined | typeof lostRun) => void>();
  /** Settles when the thread is up or gone. */
  readonly started: Promise<void>;
  private markStarted: () => void = () => {};

  private constructor() {
    this.started = new Promise((resolve) => {
      this.markStarted = resolve;
    });
    this.worker = new Worker(verifierThreadScript.url, {
      workerData: { readyFlag: this.readyFlag },
    });
    this.worker.unref();
    this.worker.on("message", (reply: WorkerReply) => this.received(reply));
    // After an error the thread is on its way out; its runs are given back once it has exited (before
    // then it might still write into a run's memory).
    this.worker.on("error", () => {
      this.stopped = true;
    });
    this.worker.on("exit", () => this.exited());
    this.idleFromNow();
  }

  get running(): boolean {
    return this.cameUp && !this.stopped;
  }

  /** Whether the thread got as far as being ready (by its flag, or its message). */
  private get cameUp(): boolean {
    return this.ready || Atomics.load(this.readyFlag, 0) === 1;
  }

  /**
   * Hands a pack's index to the thread now (it is queued until the thread is up), so that the copy and
   * its arrival there are out of the way of the first run that needs it. The thread keeps the indexes of
   * the keptPackIndexes packs used last.
   */
  prepare(pack: PackIndex): void {
    if (!this.stopped) this.packKey(pack);
  }

  /** Decodes and checks a run on the thread. */
  check(run: FetchedRun): Promise<ThreadFailure | undefined | typeof lostRun> {
    const id = this.nextId++;
    const pack = this.packKey(run.pack);
    const job: RunJob = {
      kind: "run",
      id,
      pack,
      frames: run.frames.map((frame, k) => ({
        frame,
        stored: run.stored[k]!,
        place: run.places[k]!,
        method: run.pack.compression,
      })),
    };
    clearTimeout(this.idleTimer);
    return new Promise((resolve) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, resolve);
      this.worker.postMessage(job);
    });
  }

  /**
   * The thread's key for a pack's index, handing the index over first if the thread lacks it. Messages
   * arrive in order, so the thread has the index before the run that needs it, and forgets one only after
   * every run sent before.
   */
  private packKey(pack: PackIndex): number {
    let key = this.packs.get(pack);
    if (key !== undefined) {
      // Most recently used last: the one forgotten is the one unused longest.
      this.packs.delete(pack);
      this.packs.set(pack, key);
      return key;
    }
    if (this.packs.size >= keptPackIndexes) {
      const [oldest, forgotten] = this.packs.entries().next().value!;
      this.packs.delete(oldest);
      this.worker.postMessage({ kind: "forget", pack: forgotten } satisfies ForgetMessage);
    }
    key = this.nextPackKey++;
    this.packs.set(pack, key);
    const { order, starts } = pack.frameTable();
    const bytes = pack.indexBytes;
    // postMessage copies a view's whole ArrayBuffer: a view into a larger one is sent as a copy of itself.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    this.worker.postMessage({
      kind: "pack",
      pack: key,
      index: whole ? bytes : bytes.slice(),
      order,
      starts,
    } satisfies PackMessage);
    return key;
  }

  /** Stops the thread; runs in flight are then checked by their callers. For tests. */
  async terminate(): Promise<void> {
    this.stopped = true;
    this.terminated = true;
    await this.worker.terminate();
  }

  private received(reply: WorkerReply): void {
    if (reply.ready === true) {
      this.ready = true;
      VerifierThread.failedStarts = 0;
      // Unref'd at its start, the thread is ref'd again by node as it comes up (seen on node 20): a process
      // that started it and sent no run, as a pull that failed or was stopped early, then waited for it.
      if (this.pending.size === 0) this.worker.unref();
      this.markStarted();
      return;
    }
    const settle = reply.id === undefined ? undefined : this.pending.get(reply.id);
    if (settle === undefined) return;
    this.pending.delete(reply.id!);
    if (this.pending.size === 0) {
      this.worker.unref();
      this.idleFromNow();
    }
    settle(reply.failure);
  }

  /** Exits after verifierThreadIdle.ms unless a run comes first (check() stops the clock). */
  private idleFromNow(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.pending.size > 0 || this.stopped) return;
      this.stopped = true;
      this.retired = true;
      void this.worker.terminate();
    }, verifierThreadIdle.ms);
    this.idleTimer.unref();
  }

  private exited(): void {
    clearTimeout(this.idleTimer);
    if (!this.cameUp && !this.terminated) VerifierThread.failedStarts++;
    this.stopped = true;
    this.markStarted();
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const settle of waiting) settle(lostRun);
  }
}

/**
 * Starts the process's verifier thread ahead of a fetch, so it comes up (about 60 ms of a second core)
 * while the caller reads the pack indexes and block maps, not while frames wait: pullVersion calls it
 * once the manifest says the disks are images. Does nothing when COLLECTIVE_VERIFY_THREAD=0.
 */
export function startVerifierThread(): void {
  if (!verifyThreadEnabled()) return;
  try {
    VerifierThread.shared();
  } catch {
    // No thread to be had: fetches check their frames inline.
  }
}

/** Lets the process try threads again after failed starts; for tests. */
export function forgetFailedVerifierStarts(): void {
  VerifierThread.forgetFailedStarts();
}

/** Whether the process's verifier thread is up or on its way. */
export function verifierThreadStarted(): boolean {
  return VerifierThread.started;
}

/**
 * Checks runs on the process's verifier thread when it is up, else on the calling thread. Nothing to
 * close: the thread is the process's, idle (and not keeping the process alive) between fetches.
 */
export class ThreadFrameVerifier implements FrameVerifier {
  private thread = VerifierThread.shared();

  constructor(private readonly inline: InlineFrameVerifier) {}

  /** Whether runs go to the thread now (else verify() works inline); for tests. */
  get running(): boolean {
    return this.thread.running;
  }

  /** Resolves once the thread is up, or has failed to come up; for tests. */
  whenReady(): Promise<void> {
    return this.thread.started;
  }

  /** Stops the thread under this verifier (later runs are checked inline); for tests. */
  terminateThread(): Promise<void> {
    return this.thread.terminate();
  }

  /** Runs checked on the calling thread instead; for tests. */
  checkedInline = 0;

  /**
   * Sends the indexes of the packs a fetch will use to the thread ahead of their first run (the first
   * keptPackIndexes of them: the thread keeps no more). A pull does so as it opens its packs: sent with
   * the first run, an image's 3.9 MB index cost that run about 40 ms, while the main thread waited.
   */
  prepare(packs: readonly PackIndex[]): void {
    if (this.thread.retired) this.renew();
    for (const pack of packs.slice(0, keptPackIndexes)) this.thread.prepare(pack);
  }

  /** Takes the process's next thread in place of a retired one (keeps the old one, stopped, if none can start). */
  private renew(): void {
    try {
      this.thread = VerifierThread.shared();
    } catch {
      // Threads fail to start here: runs are checked inline.
    }
  }

  async verify(run: FetchedRun): Promise<Buffer[]> {
    // A fetch that paused longer than the thread stays idle gets a new one (inline until it is up).
    if (this.thread.retired) this.renew();
    if (!this.thread.running || !takes(run)) return this.checkInline(run);
    const failure = await this.thread.check(run);
    if (failure === undefined) return [...run.places];
    // The thread died, or failed on its own account: the run is checked here, as if it never went there.
    if (failure === lostRun || failure.frame < 0) return this.checkInline(run);
    throw this.inline.failure(
      run,
      failure.frame,
      failure.chunk !== undefined ? { chunk: failure.chunk } : { detail: failure.message ?? "" },
    );
  }

  private checkInline(run: FetchedRun): Buffer[] {
    this.checkedInline++;
    return this.inline.verifyNow(run);
  }
}

/** Frames the thread can decode (zstd or stored raw), in memory it can reach (shared). */
function takes(run: FetchedRun): boolean {
  const { pack, stored, places } = run;
  for (let k = 0; k < stored.length; k++) {
    if (
      !(stored[k]!.buffer instanceof SharedArrayBuffer) ||
      !(places[k]!.buffer instanceof SharedArrayBuffer)
    )
      return false;
    if (stored[k]!.length !== places[k]!.length && pack.compression !== Compression.zstd) return false;
  }
  return true;
}

/**
 * What the thread is sent. A pack's index (its bytes and its entries grouped by frame) goes over once,
 * before the first run of that pack; a run then names only its frames, whose shared memory travels with
 * the views, not copied. Copying each chunk's offset, length and hash into every run cost the main
 * thread about 30 ms of an image's cold fetch in a profile (docs/benchmarks.md, twelfth pass).
 */
interface PackMessage {
  readonly kind: "pack";
  readonly pack: number;
  readonly index: Uint8Array;
  readonly order: Uint32Array;
  readonly starts: Uint32Array;
}

/** The thread drops a pack's index (sent when it would hold more than keptPackIndexes). */
interface ForgetMessage {
  readonly kind: "forget";
  readonly pack: number;
}

interface RunJob {
  readonly kind: "run";
  readonly id: number;
  readonly pack: number;
  readonly frames: ReadonlyArray<{
    readonly frame: number;
    readonly stored: Uint8Array;
    readonly place: Buffer;
    readonly method: number;
  }>;
}

/** Pack indexes the thread keeps: a fetch uses a handful of packs, and a daemon's fetches come and go. */
const keptPackIndexes = 4;

/** `COLLECTIVE_VERIFY_THREAD=0` keeps verification on the main thread (for comparing, or debugging). */
export function verifyThreadEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.COLLECTIVE_VERIFY_THREAD !== "0";
}
