/**
 * What this machine allows: each repository speed target as a time budget (the appliance's logical size
 * divided by the target rate), next to the least time a native tool needs here for strictly less work
 * than the target asks, and next to ours, measured in the same rounds.
 *
 * A floor does a part of the job only (no network, no verification, no cache, no chunking, as each row
 * says), so a floor over its budget means no tool that does the whole job can meet the target on this
 * machine; a floor under it says how much room is left. cui is a Node program, so node's own start is
 * shown too: it comes on top of any work a Node tool does.
 *
 *   npm run build && node dist/bench/repo/floors.js [ROUNDS]
 *   (default 3 rounds; the appliance pair must exist in bench/out/repo: run `npm run bench:repo` once;
 *   needs tar, zstd, openssl, taskset and find, which Debian has by default or in scripts/apt-packages.txt)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "../median.js";
import { startCountingServer } from "./counting-server.js";
import { type Measured, measure, run, treeBytes } from "./measure.js";
import { runOurs, trashOf } from "./tools.js";
import { discard, emptyTrash, settle } from "./trash.js";
import { warmFiles } from "./warm.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const MiB = 1024 * 1024;

/** Runs `commands` as a pipeline (no shell: each one's stdout is the next one's stdin); wall seconds. */
async function timePipeline(
  commands: ReadonlyArray<readonly string[]>,
  warm: readonly string[],
): Promise<number> {
  await run("sync", []);
  warmFiles(warm);
  const started = performance.now();
  const children: ChildProcess[] = [];
  for (const [index, [command, ...args]] of commands.entries()) {
    const stdin = index === 0 ? "ignore" : children[index - 1]!.stdout!;
    const stdout = index === commands.length - 1 ? "ignore" : "pipe";
    children.push(spawn(command!, args, { stdio: [stdin, stdout, "inherit"] }));
    // The next command holds its own copy of the pipe; ours would keep this one's "close" from firing.
    if (index > 0) children[index - 1]!.stdout!.destroy();
  }
  const codes = await Promise.all(
    children.map(
      (child) =>
        new Promise<number>((done, fail) => {
          child.once("error", fail);
          child.once("close", (code) => done(code ?? 1));
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const failed = codes.findIndex((code) => code !== 0);
  if (failed >= 0) throw new Error(`${commands[failed]!.join(" ")} exited with ${codes[failed]}`);
  return seconds;
}

const wall = (measured: Measured): number => measured.wallSeconds;
const seconds = (values: readonly number[]): string =>
  values.length === 0
    ? "n/a"
    : `${median(values).toFixed(2)} [${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}]`;

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? "3");
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`ROUNDS must be a whole number ≥ 1, not ${process.argv[2]}`);
  const dir = join(projectRoot, "bench", "out", "repo");
  const newInformationBytes = Number(
    await readFile(join(dir, "new-information-bytes"), "utf8").catch(() => {
      throw new Error(`no appliance pair in ${dir}: run \`npm run bench:repo\` once first`);
    }),
  );
  const pair = { dir, newInformationBytes };
  const work = join(dir, "floors");
  await discard(work, trashOf(pair));
  await mkdir(work);
  const cui = join(projectRoot, "bin", "cui.js");
  const node = process.execPath;
  const v1 = join(dir, "v1");
  const v2 = join(dir, "v2");
  const treeSize = await treeBytes(v1);
  const imageSize = (await stat(join(dir, "v1.img"))).size;
  // The image as zstd would ship it: the cold-fetch floor decompresses it into a new sparse file.
  const imageZst = join(work, "v1.img.zst");
  await measure("zstd", ["-1", "-q", "-f", join(dir, "v1.img"), "-o", imageZst]);

  const server = await startCountingServer(dir);
  const times = new Map<string, number[]>();
  const note = (key: string, value: number | undefined): void => {
    if (value === undefined) return;
    times.set(key, [...(times.get(key) ?? []), value]);
  };
  try {
    await emptyTrash(trashOf(pair));
    process.stderr.write(
      "waiting 35 s: ext4 creates files slowly right after many were deleted (trash.ts)\n",
    );
    await settle();
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`round ${round + 1} of ${rounds}: floors\n`);
      note("node", wall(await measure(node, ["-e", "0"])));
      note("cui", wall(await measure(node, [cui, "--version"])));
      const oneCore = (command: readonly string[]): string[] => ["taskset", "-c", "0", ...command];
      note(
        "publishPipeline",
        await timePipeline(
          [
            oneCore(["tar", "-cf", "-", "-C", dir, "v1"]),
            oneCore(["zstd", "-1", "-T1", "-q", "-c"]),
            oneCore(["openssl", "dgst", "-sha256"]),
          ],
          [v1],
        ),
      );
      note(
        "find",
        wall(
          await measure(
            "taskset",
            ["-c", "0", "find", v2, "-printf", "%i %s %T@ %C@ %m %U %G\\n"],
            process.env,
            [],
          ),
        ),
      );
      note(
        "nodeWalk",
        wall(await measure(node, [join(projectRoot, "dist", "bench", "repo", "lstat-walk.js"), v2])),
      );
      const extracted = join(work, `tar-x-${round}`);
      await mkdir(extracted);
      note(
        "tarExtract",
        wall(
          await measure("tar", ["-xf", join(dir, "v1.tar"), "-C", extracted], process.env, [
            join(dir, "v1.tar"),
          ]),
        ),
      );
      note(
        "zstdImage",
        wall(
          await measure(
            "zstd",
            ["-d", "-q", "--sparse", imageZst, "-o", join(work, `image-${round}.img`)],
            process.env,
            [imageZst],
          ),
        ),
      );
      process.stderr.write(`round ${round + 1} of ${rounds}: ours\n`);
      const context = { pair, cui, server };
      const tree = await runOurs(context, "tree");
      note("oursTreePublish", tree.publishNew && wall(tree.publishNew));
      note("oursTreeUnchanged", tree.publishUnchanged && wall(tree.publishUnchanged));
      note("oursTreeFetch", tree.fetchCold && wall(tree.fetchCold));
      const image = await runOurs(context, "image");
      note("oursImageFetch", image.fetchCold && wall(image.fetchCold));
    }
  } finally {
    await server.close();
    await discard(work, trashOf(pair));
    await emptyTrash(trashOf(pair));
  }

  const get = (key: string): number[] => times.get(key) ?? [];
  const nodeStart = median(get("node"));
  const budget = (bytes: number, rate: number): string => (bytes / MiB / rate).toFixed(2);
  const plusNode = (key: string): string => (median(get(key)) + nodeStart).toFixed(2);
  // A target: its rate over a size makes the budget; `floor` and `ours` name the times noted above.
  const targets: ReadonlyArray<{
    target: string;
    bytes: number;
    rate: number;
    what: string;
    floor: string;
    ours?: string;
  }> = [
    {
      target: "tree publish, all new: 150 MiB/s on one core",
      bytes: treeSize,
      rate: 150,
      what: "`tar -c v1 \\| zstd -1 \\| openssl dgst -sha256`, all three on CPU 0: reads, compresses and hashes the tree once (no chunking, no hash per chunk, nothing written)",
      floor: "publishPipeline",
      ours: "oursTreePublish",
    },
    {
      target: "tree publish, unchanged: 350 MiB/s",
      bytes: treeSize,
      rate: 350,
      what: "`find v2 -printf ...` on CPU 0: an lstat per entry, nothing else",
      floor: "find",
      ours: "oursTreeUnchanged",
    },
    {
      target: "",
      bytes: 0,
      rate: 0,
      what: "node: readdir and lstat of every entry of v2 (bench/repo/lstat-walk.ts), node's start included",
      floor: "nodeWalk",
    },
    {
      target: "tree cold fetch: 250 MiB/s",
      bytes: treeSize,
      rate: 250,
      what: "`tar -xf v1.tar` into a new directory: the tar from the page cache (no network, no verification, no cache)",
      floor: "tarExtract",
      ours: "oursTreeFetch",
    },
    {
      target: "image cold fetch: 250 MiB/s",
      bytes: imageSize,
      rate: 250,
      what: "`zstd -d --sparse` of the image (zstd -1) into a new file: no network, no verification, no cache",
      floor: "zstdImage",
      ours: "oursImageFetch",
    },
  ];
  const rows = targets.map(({ target, bytes, rate, what, floor, ours }) =>
    ours === undefined
      ? [target, "", what, seconds(get(floor)), "", ""] // a second floor for the target above
      : [target, budget(bytes, rate), what, seconds(get(floor)), plusNode(floor), seconds(get(ours))],
  );
  const header = [
    "target",
    "budget (s)",
    "floor: strictly less work, by native tools",
    "floor (s)",
    "floor + node's start (s)",
    "ours (s)",
  ];
  process.stdout.write(
    `${rounds} rounds; seconds as median [min-max]. Tree: ${(treeSize / MiB).toFixed(1)} MiB of files; image: ${(imageSize / MiB).toFixed(0)} MiB apparent.\n` +
      `node's start (\`node -e 0\`): ${seconds(get("node"))}; cui's (\`cui --version\`): ${seconds(get("cui"))}\n\n` +
      [header, header.map(() => "---"), ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n") +
      "\n",
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
