/**
 * Repository benchmark: Collective's repository against casync, rsync -z and restic on the appliance pair
 * of ../shared/bench/make-appliance-pair.sh, for the tree and the ext4 image form, plus publish and
 * fetch of a 1 GiB image for the memory bound. Prints markdown (docs/benchmarks.md explains it).
 *
 *   npm run bench:repo -- [OUT_DIR] [SOURCE_DIR] [PAIR_SCRIPT]
 *   (defaults: bench/out/repo, /usr/share/doc, ../shared/bench/make-appliance-pair.sh)
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startCountingServer } from "./counting-server.js";
import { bigImageLine, resultsTable } from "./report.js";
import { makeBigImage, makePair } from "./sources.js";
import { type Context, runCasync, runOurs, runRestic, runRsync, type ToolResult, trashOf } from "./tools.js";
import { emptyTrash, settle } from "./trash.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? join(projectRoot, "bench", "out", "repo"));
  const source = process.argv[3] ?? "/usr/share/doc";
  const script = resolve(
    process.argv[4] ?? join(projectRoot, "..", "shared", "bench", "make-appliance-pair.sh"),
  );
  await mkdir(out, { recursive: true });
  process.stderr.write(`making the appliance pair in ${out} from ${source}\n`);
  const pair = await makePair(script, out, source);
  // For compare.ts, which reuses the pair.
  await writeFile(join(out, "new-information-bytes"), String(pair.newInformationBytes));
  const bigImage = await makeBigImage(pair);
  await emptyTrash(trashOf(pair));
  process.stderr.write("waiting 35 s: ext4 creates files slowly right after many were deleted (trash.ts)\n");
  await settle();
  const server = await startCountingServer(out);
  const context: Context = { pair, cui: join(projectRoot, "bin", "cui.js"), server };
  const results: ToolResult[] = [];
  try {
    for (const form of ["tree", "image"] as const) {
      for (const [name, runner] of [
        ["ours", runOurs],
        ["casync", runCasync],
        ["rsync", runRsync],
        ["restic", runRestic],
      ] as const) {
        process.stderr.write(`${form}: ${name}\n`);
        results.push(await runner(context, form));
      }
    }
    process.stderr.write("1 GiB image: ours\n");
    const big = await runOurs(context, "image", bigImage.slice(out.length + 1));
    process.stdout.write(
      `new information in v2: ${pair.newInformationBytes} bytes (${(pair.newInformationBytes / 1048576).toFixed(1)} MiB)\n\n` +
        "Throughputs in MiB/s of the version's logical size: wall clock (and per CPU-second of the process).\n\n" +
        `${resultsTable(results, pair.newInformationBytes)}\n\n${bigImageLine(big)}\n`,
    );
  } finally {
    await server.close();
    await emptyTrash(trashOf(pair));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
