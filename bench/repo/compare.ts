/**
 * Ours only, several builds of cui side by side: each round runs bench/repo's runOurs for every form and
 * every build in turn, so that a busy shared machine slows them alike. Prints one JSON line per run;
 * medians are left to the reader (docs/benchmarks.md shows how they were taken).
 *
 *   npm run build && node dist/bench/repo/compare.js ROUNDS FORMS LABEL=CUI_JS...
 *   e.g. node dist/bench/repo/compare.js 3 tree,image,big before=/tmp/old/bin/cui.js after=bin/cui.js
 *   (FORMS: tree, image, big; the appliance pair must exist in bench/out/repo: run bench:repo once)
 */
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startCountingServer } from "./counting-server.js";
import type { Measured } from "./measure.js";
import { makeBigImage } from "./sources.js";
import { runOurs, trashOf } from "./tools.js";
import { emptyTrash, settle } from "./trash.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const [rounds = "3", forms = "tree,image,big", ...builds] = process.argv.slice(2);
  const dir = join(projectRoot, "bench", "out", "repo");
  const newInformationBytes = Number(await readFile(join(dir, "new-information-bytes"), "utf8"));
  const pair = { dir, newInformationBytes };
  const server = await startCountingServer(dir);
  const rate = (bytes: number, run: Measured | undefined): string =>
    run === undefined
      ? "-"
      : `${(bytes / MiB / run.wallSeconds).toFixed(0)} (${(bytes / MiB / run.cpuSeconds).toFixed(0)})`;
  try {
    await emptyTrash(trashOf(pair));
    await settle();
    for (let round = 0; round < Number(rounds); round++) {
      for (const form of forms.split(",")) {
        for (const build of builds) {
          const [label, cui] = build.split("=") as [string, string];
          const load = (await readFile("/proc/loadavg", "utf8")).split(" ")[0];
          const context = { pair, cui: resolve(cui), server };
          const result =
            form === "big"
              ? await runOurs(context, "image", (await makeBigImage(pair)).slice(dir.length + 1))
              : await runOurs(context, form as "tree" | "image");
          const bytes = result.logicalBytes;
          const peak = (...runs: Array<Measured | undefined>): number =>
            Math.round(Math.max(0, ...runs.map((run) => run?.peakRssMiB ?? 0)));
          process.stdout.write(
            `${JSON.stringify({
              round,
              form,
              label,
              load,
              publishNew: rate(bytes, result.publishNew),
              publishV2: rate(bytes, result.publishIncremental),
              publishUnchanged: rate(bytes, result.publishUnchanged),
              coldFetch: rate(bytes, result.fetchCold),
              growth: result.growthBytes && (result.growthBytes / newInformationBytes).toFixed(3),
              fetched: result.fetchBytes && (result.fetchBytes / newInformationBytes).toFixed(3),
              peakRssPublish: peak(result.publishNew, result.publishIncremental, result.publishUnchanged),
              peakRssFetch: peak(result.fetchCold, result.fetchIncremental),
            })}\n`,
          );
        }
      }
    }
  } finally {
    await server.close();
    await emptyTrash(trashOf(pair));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
