/** Printing diagnostics on stderr the way a compiler does, with a one-line summary. */
import { type Diagnostic, formatDiagnostic } from "../cvl/diagnostics.js";

export function printDiagnostics(
  diagnostics: readonly Diagnostic[],
  stream: NodeJS.WritableStream = process.stderr,
): void {
  for (const d of diagnostics) stream.write(`${formatDiagnostic(d)}\n`);
}

export function summary(diagnostics: readonly Diagnostic[], files: number): string {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${plural(files, "file")} checked: ${plural(errors, "error")}, ${plural(warnings, "warning")}`;
}
