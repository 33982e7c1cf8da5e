/** The human form of a doctor report: a table, then the fixes for what is not ok, then the verdict. */
import type { DoctorReport } from "./doctor.js";

export function renderReport(report: DoctorReport): string {
  const rows = [["CHECK", "STATUS", "DETAIL"], ...report.checks.map((c) => [c.name, c.status, c.detail])];
  const width = (col: number) => Math.max(...rows.map((r) => r[col]!.length));
  const [w0, w1] = [width(0), width(1)];
  const lines = rows.map(([check, status, detail]) =>
    `${check!.padEnd(w0)}  ${status!.padEnd(w1)}  ${detail}`.trimEnd(),
  );
  const fixes = report.checks.filter((c) => c.status !== "ok" && c.fix !== null);
  if (fixes.length > 0) {
    lines.push("", "To fix:");
    for (const c of fixes) lines.push(`  ${c.name}${c.required ? "" : " (optional)"}: ${c.fix}`);
  }
  const failed = report.checks.filter(
    (c) => c.required && (c.status === "missing" || c.status === "broken"),
  ).length;
  const warnings = report.checks.filter((c) => c.status === "warning").length;
  const also = warnings === 0 ? "" : ` (${warnings} warning${warnings === 1 ? "" : "s"})`;
  lines.push(
    "",
    report.ok
      ? `ready: every required check passes${also}`
      : `not ready: ${failed} required check${failed === 1 ? "" : "s"} failed${also}`,
  );
  return `${lines.join("\n")}\n`;
}
