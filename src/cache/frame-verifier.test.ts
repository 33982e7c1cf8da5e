import { spawnSync } from "node:child_process";
import { hash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { isCollectiveError } from "../errors.js";
import { Compression, compressFrame, decompressFrame } from "../repo/compression.js";
import { FileTransport } from "../repo/file-transport.js";
import { type Manifest, paths } from "../repo/format.js";
import { PackIndex } from "../repo/pack-index.js";
import { RepoReader } from "../repo/repo-reader.js";
import { alignedBuffer, alignUp } from "./direct-io.js";
import {
  type FetchedRun,
  type FrameVerifier,
  forgetFailedVerifierStarts,
  InlineFrameVerifier,
  startVerifierThread,
  ThreadFrameVerifier,
  verifierThreadIdle,
  verifierThreadScript,
  verifierThreadStarted,
} from "./frame-verifier.js";
import { makeTestRepo } from "./test-repo.js";

let scratch: string;
let reader: RepoReader;
let manifest: Manifest;
let pack: PackIndex;
let packBytes: Buffer;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-frame-verifier-"));
  const repo = await makeTestRepo(scratch);
  // Half text-like (its frames are zstd-compressed), half random (its frames are stored raw).
  const text = Buffer.from(
    Array.from({ length: 20000 }, (_, i) => `line ${i} of the appliance's configuration\n`).join(""),
  );
  const image = Buffer.concat([text.subarray(0, 512 * 1024), randomBytes(512 * 1024)]);
  await writeFile(join(scratch, "sources", "disk.img"), image);
  await repo.publishImage(join(scratch, "sources", "disk.img"));
  reader = new RepoReader(new FileTransport(repo.dir));
  manifest = await reader.manifest(1);
  pack = await reader.packIndex(manifest.packs[0]!);
  packBytes = await readFile(join(repo.dir, paths.pack(pack.id)));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/**
 * Frames `first..first+count-1` as a fetch has them: stored bytes and places in shared aligned memory.
 * `of`: the pack's index as another object (the thread tells packs apart by their index objects).
 */
function fetchedRun(first: number, count: number, shared = true, of: PackIndex = pack): FetchedRun {
  const frames = Array.from({ length: count }, (_, k) => first + k);
  const make = (bytes: number): Buffer => (shared ? alignedBuffer(bytes) : Buffer.alloc(bytes));
  const storedMemory = make(frames.reduce((sum, f) => sum + alignUp(pack.frameStoredLength(f)), 0));
  const placeMemory = make(frames.reduce((sum, f) => sum + alignUp(pack.frameRawLength(f)), 0));
  let storedAt = 0;
  let placeAt = 0;
  const stored: Uint8Array[] = [];
  const places: Buffer[] = [];
  for (const frame of frames) {
    const { offset, storedLength, rawLength } = pack.frameAt(frame);
    packBytes.copy(storedMemory, storedAt, offset, offset + storedLength);
    stored.push(storedMemory.subarray(storedAt, storedAt + storedLength));
    places.push(placeMemory.subarray(placeAt, placeAt + rawLength));
    storedAt += alignUp(storedLength);
    placeAt += alignUp(rawLength);
  }
  return { pack: of, frames, stored, places };
}

/** Whether every chunk of the frames hashes to what the pack's index says. */
function chunksGenuine(run: FetchedRun, raws: readonly Buffer[]): boolean {
  return run.frames.every((frame, k) =>
    [...pack.entriesOfFrame(frame)].every((entry) => {
      const at = pack.offsetInFrame(entry);
      const digest = hash("sha256", raws[k]!.subarray(at, at + pack.rawLength(entry)), "buffer");
      return digest.equals(pack.hashAt(entry));
    }),
  );
}

async function failureOf(verifier: FrameVerifier, run: FetchedRun): Promise<string> {
  try {
    await verifier.verify(run);
  } catch (error) {
    if (!isCollectiveError(error)) throw error;
    return `${error.code}: ${error.message}`;
  }
  throw new Error("the run was accepted");
}

/** A frame stored compressed and one stored raw (the image holds both kinds). */
function framesOfBothKinds(): { compressed: number; raw: number } {
  const frames = Array.from({ length: pack.frameCount }, (_, f) => f);
  const compressed = frames.find((f) => pack.frameStoredLength(f) < pack.frameRawLength(f));
  const raw = frames.find((f) => pack.frameStoredLength(f) === pack.frameRawLength(f));
  if (compressed === undefined || raw === undefined) throw new Error("the test image lacks a kind of frame");
  return { compressed, raw };
}

const implementations: Array<[string, () => Promise<FrameVerifier>]> = [
  ["InlineFrameVerifier", async () => new InlineFrameVerifier(reader, manifest)],
  [
    "ThreadFrameVerifier",
    async () => {
      startVerifierThread();
      const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
      await verifier.whenReady();
      expect(verifier.running).toBe(true); // else this suite would only test the inline fallback
      return verifier;
    },
  ],
];

describe.each(implementations)("%s (the FrameVerifier contract)", (_name, make) => {
  it("decodes every frame into its place and accepts chunks that match their hashes", async () => {
    const verifier = await make();
    const run = fetchedRun(0, pack.frameCount);
    const raws = await verifier.verify(run);
    expect(raws).toHaveLength(pack.frameCount);
    raws.forEach((raw, k) => {
      expect(raw.buffer).toBe(run.places[k]!.buffer); // in place, not a copy elsewhere
      expect(raw.byteOffset).toBe(run.places[k]!.byteOffset);
      expect(raw.length).toBe(pack.frameRawLength(k));
    });
    expect(chunksGenuine(run, raws)).toBe(true);
  });

  it("rejects a frame that does not decode, naming the repository, version, first chunk and offset", async () => {
    const verifier = await make();
    const { compressed } = framesOfBothKinds();
    const run = fetchedRun(compressed, 1);
    run.stored[0]!.set(randomBytes(run.stored[0]!.length));
    const message = await failureOf(verifier, run);
    const first = pack.hashAt(pack.entriesOfFrame(compressed)[0]!).toString("hex");
    expect(message).toContain(`CHUNK_CORRUPT: ${reader.url} version 1: chunk ${first} (pack ${pack.id})`);
    expect(message).toContain(`is corrupt: frame ${compressed}: cannot decompress a frame`);
    expect(message).toContain(`at offset ${pack.frameAt(compressed).offset}`);
  });

  it("rejects a frame that decodes to fewer bytes than the index says, naming both lengths", async () => {
    const verifier = await make();
    const { compressed } = framesOfBothKinds();
    const run = fetchedRun(compressed, 1);
    const rawLength = pack.frameRawLength(compressed);
    // A sound zstd frame of the frame's bytes but its last 1,000: where the stored frame was.
    const short = compressFrame(
      decompressFrame(run.stored[0]!, rawLength, pack.compression).subarray(0, rawLength - 1000),
      Compression.zstd,
    );
    expect(short.length).toBeLessThan(run.stored[0]!.length);
    run.stored[0]!.set(short);
    const message = await failureOf(verifier, { ...run, stored: [run.stored[0]!.subarray(0, short.length)] });
    expect(message).toContain(`is corrupt: frame ${compressed}: a frame decompressed to `);
    expect(message).toContain(`expected ${rawLength}`);
  });

  it("rejects a chunk whose bytes do not match its hash, naming that chunk", async () => {
    const verifier = await make();
    const { raw } = framesOfBothKinds();
    expect(raw).toBeGreaterThan(0); // so the bad chunk is not the run's first frame's: its place is counted right
    const run = fetchedRun(0, raw + 1);
    const second = pack.entriesOfFrame(raw)[1]!;
    const at = pack.offsetInFrame(second);
    run.stored[raw]![at] = run.stored[raw]![at]! ^ 0xff;
    const message = await failureOf(verifier, run);
    expect(message).toBe(
      `CHUNK_CORRUPT: ${reader.url} version 1: chunk ${pack.hashAt(second).toString("hex")} (pack ${pack.id}) does not match its hash at offset ${pack.frameAt(raw).offset}`,
    );
  });

  it("rejects a run for its first bad frame, even when the frames before it are good", async () => {
    const verifier = await make();
    const run = fetchedRun(0, pack.frameCount);
    const last = pack.frameCount - 1;
    run.stored[last]!.fill(0);
    const message = await failureOf(verifier, run);
    expect(message).toMatch(new RegExp(`at offset ${pack.frameAt(last).offset}$`));
  });
});

describe("ThreadFrameVerifier", () => {
  it("checks runs in memory it cannot share on the calling thread, with the same result", async () => {
    startVerifierThread();
    const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
    await verifier.whenReady();
    const run = fetchedRun(0, pack.frameCount, false);
    const raws = await verifier.verify(run);
    expect(chunksGenuine(run, raws)).toBe(true);
    const { raw } = framesOfBothKinds();
    const bad = fetchedRun(raw, 1, false);
    bad.stored[0]!.fill(7);
    expect(await failureOf(verifier, bad)).toContain("does not match its hash");
  });

  it("checks runs of more packs than it keeps indexes of on the thread, each against its own index", async () => {
    startVerifierThread();
    const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
    await verifier.whenReady();
    // Six index objects for the same pack: to the thread, six packs (it keeps four).
    const indexes = Array.from({ length: 6 }, () => new PackIndex(pack.id, Buffer.from(pack.indexBytes)));
    // Twice through all six (every pack sent, most forgotten), then the four it keeps (none sent again).
    for (const round of [indexes, indexes, indexes.slice(2)]) {
      const runs = round.map((index) => fetchedRun(0, pack.frameCount, true, index));
      const results = await Promise.all(runs.map((run) => verifier.verify(run)));
      results.forEach((raws, k) => {
        expect(chunksGenuine(runs[k]!, raws)).toBe(true);
      });
    }
    // A bad chunk in a pack the thread forgot and was given again is found there, and named.
    const { raw } = framesOfBothKinds();
    const bad = fetchedRun(raw, 1, true, indexes[0]!);
    const second = pack.entriesOfFrame(raw)[1]!;
    bad.stored[0]![pack.offsetInFrame(second)]! ^= 0xff;
    expect(await failureOf(verifier, bad)).toContain(`chunk ${pack.hashAt(second).toString("hex")}`);
    expect(verifier.checkedInline).toBe(0); // every run was checked on the thread
  });

  it("is seen to be up without a turn of the event loop (a fetch checking runs inline gives it none)", async () => {
    // A thread of its own, not one whose "ready" message was handled already.
    await new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest)).terminateThread();
    const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
    const waitOn = new Int32Array(new SharedArrayBuffer(4));
    const giveUp = Date.now() + 5_000;
    // Synchronous: the thread's message cannot be handled here, only its flag in shared memory seen.
    while (!verifier.running && Date.now() < giveUp) Atomics.wait(waitOn, 0, 0, 5);
    expect(verifier.running).toBe(true);
    const run = fetchedRun(0, pack.frameCount);
    expect(chunksGenuine(run, await verifier.verify(run))).toBe(true);
    expect(verifier.checkedInline).toBe(0);
  });

  it("sends the indexes of the packs a fetch will use ahead of their first run, at most the four it keeps", async () => {
    // A thread of its own, holding no index yet.
    await new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest)).terminateThread();
    const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
    await verifier.whenReady();
    const indexes = Array.from({ length: 6 }, () => new PackIndex(pack.id, Buffer.from(pack.indexBytes)));
    const sent = vi.spyOn(Worker.prototype, "postMessage");
    try {
      const kinds = (): string[] => sent.mock.calls.map(([message]) => (message as { kind: string }).kind);
      verifier.prepare(indexes);
      expect(kinds()).toEqual(["pack", "pack", "pack", "pack"]);
      sent.mockClear();
      // Runs of the packs prepared go with no index; a fifth pack's run brings its own.
      const runs = [0, 3, 4].map((k) => fetchedRun(0, pack.frameCount, true, indexes[k]!));
      const results = await Promise.all(runs.map((run) => verifier.verify(run)));
      expect(kinds()).toEqual(["run", "run", "forget", "pack", "run"]);
      results.forEach((raws, k) => {
        expect(chunksGenuine(runs[k]!, raws)).toBe(true);
      });
      expect(verifier.checkedInline).toBe(0);
    } finally {
      sent.mockRestore();
    }
  });

  it("exits when idle, and the fetch that holds it takes a new thread for its next runs", async () => {
    const idle = verifierThreadIdle.ms;
    try {
      await new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest)).terminateThread();
      const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
      await verifier.whenReady();
      verifierThreadIdle.ms = 50; // from the end of the next run
      const first = fetchedRun(0, pack.frameCount);
      expect(chunksGenuine(first, await verifier.verify(first))).toBe(true);
      expect(verifier.running).toBe(true);
      await sleep(300);
      expect(verifier.running).toBe(false); // gone, with the pack indexes it held
      verifierThreadIdle.ms = idle;
      // The next run is checked inline while a new thread comes up; the ones after, there.
      const second = fetchedRun(0, pack.frameCount);
      expect(chunksGenuine(second, await verifier.verify(second))).toBe(true);
      expect(verifier.checkedInline).toBe(1);
      await verifier.whenReady();
      expect(verifier.running).toBe(true);
      const third = fetchedRun(0, pack.frameCount);
      expect(chunksGenuine(third, await verifier.verify(third))).toBe(true);
      expect(verifier.checkedInline).toBe(1);
    } finally {
      verifierThreadIdle.ms = idle;
    }
  });

  it("stops starting threads after two in a row failed to come up, and checks runs inline", async () => {
    const script = verifierThreadScript.url;
    await new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest)).terminateThread();
    verifierThreadScript.url = new URL('data:text/javascript,throw new Error("no thread here")');
    try {
      for (let attempt = 1; attempt <= 2; attempt++) {
        startVerifierThread();
        const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
        await verifier.whenReady(); // settles when the thread has exited, too
        expect(verifier.running).toBe(false);
        const run = fetchedRun(0, pack.frameCount);
        expect(chunksGenuine(run, await verifier.verify(run))).toBe(true);
        expect(verifier.checkedInline).toBe(1);
      }
      startVerifierThread(); // tries no third thread
      expect(verifierThreadStarted()).toBe(false);
      expect(() => new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest))).toThrow(
        "the frame verifier's thread failed to start 2 times; frames are checked on the main thread",
      );
    } finally {
      verifierThreadScript.url = script;
      forgetFailedVerifierStarts();
    }
    const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
    await verifier.whenReady();
    expect(verifier.running).toBe(true);
  });

  it("does not keep a process alive that started it and sent it no run (a pull that failed early)", async () => {
    // In a process of its own (the built code): the test runner's process would not show it.
    const built = join(import.meta.dirname, "../../dist/src/cache/frame-verifier.js");
    const script = `
      const { startVerifierThread, ThreadFrameVerifier, InlineFrameVerifier } = await import(${JSON.stringify(built)});
      startVerifierThread();
      const verifier = new ThreadFrameVerifier(new InlineFrameVerifier({}, {}));
      await verifier.whenReady();
      if (!verifier.running) process.exit(3);`;
    const started = Date.now();
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 10_000 });
    expect(child.status).toBe(0); // not killed by the timeout, not failed
    expect(Date.now() - started).toBeLessThan(5_000); // the idle limit is 30 s
  }, 15_000);

  it("finishes runs the thread still had when it stopped, then works on without it", async () => {
    startVerifierThread();
    const verifier = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
    await verifier.whenReady();
    const runs = Array.from({ length: 8 }, () => fetchedRun(0, pack.frameCount));
    const pending = runs.map((run) => verifier.verify(run));
    await verifier.terminateThread();
    const results = await Promise.all(pending);
    results.forEach((raws, k) => {
      expect(chunksGenuine(runs[k]!, raws)).toBe(true);
    });
    expect(verifier.running).toBe(false);
    const after = fetchedRun(0, pack.frameCount);
    expect(chunksGenuine(after, await verifier.verify(after))).toBe(true);
    // The next verifier gets a new thread.
    const next = new ThreadFrameVerifier(new InlineFrameVerifier(reader, manifest));
    await next.whenReady();
    expect(next.running).toBe(true);
  });
});
