/** The benchmark's results as markdown tables, with each size as a ratio to v2's new information. */
import type { Measured } from "./measure.js";
import type { ToolResult } from "./tools.js";

const MiB = 1024 * 1024;

export function resultsTable(results: readonly ToolResult[], newInformationBytes: number): string {
  const ratio = (bytes: number | undefined): string =>
    bytes === undefined || Number.isNaN(bytes)
      ? "n/a"
      : `${(bytes / MiB).toFixed(1)} MiB (${(bytes / newInformationBytes).toFixed(2)}x)`;
  const speed = (bytes: number, run: Measured | undefined): string =>
    run === undefined
      ? "n/a"
      : `${(bytes / MiB / run.wallSeconds).toFixed(0)} (${(bytes / MiB / Math.max(run.cpuSeconds, 0.001)).toFixed(0)})`;
  const memory = (...runs: Array<Measured | undefined>): string => {
    const peaks = runs.filter((r): r is Measured => r !== undefined).map((r) => r.peakRssMiB);
    return peaks.length === 0 ? "n/a" : `${Math.max(...peaks).toFixed(0)}`;
  };
  const header = [
    "form",
    "tool",
    "repository growth for v2",
    "fetched by a host with v1",
    "publish v1 (all new)",
    "publish v2",
    "publish unchanged",
    "cold fetch v1",
    "peak RSS publish / fetch (MiB)",
  ];
  const rows = results.map((r) => [
    r.form,
    r.tool,
    ratio(r.growthBytes),
    ratio(r.fetchBytes),
    speed(r.logicalBytes, r.publishNew),
    speed(r.logicalBytes, r.publishIncremental),
    speed(r.logicalBytes, r.publishUnchanged),
    speed(r.logicalBytes, r.fetchCold),
    `${memory(r.publishNew, r.publishIncremental, r.publishUnchanged)} / ${memory(r.fetchCold, r.fetchIncremental)}`,
  ]);
  const lines = [header, header.map(() => "---"), ...rows].map((row) => `| ${row.join(" | ")} |`);
  return lines.join("\n");
}

export function bigImageLine(result: ToolResult): string {
  const mib = (result.logicalBytes / MiB).toFixed(0);
  const rate = (run: Measured | undefined): string =>
    run ? `${(result.logicalBytes / MiB / run.wallSeconds).toFixed(0)} MiB/s` : "n/a";
  return `1 GiB image (${mib} MiB apparent, 700 MiB random data): publish ${rate(result.publishNew)}, peak RSS ${result.publishNew?.peakRssMiB.toFixed(0)} MiB; cold fetch ${rate(result.fetchCold)}, peak RSS ${result.fetchCold?.peakRssMiB.toFixed(0)} MiB`;
}
