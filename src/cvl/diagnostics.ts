/**
 * Coded diagnostics with positions, as a compiler reports them:
 *
 *   acme.cvl:3:7: error CVL1206: 'domian' is not a parameter of AcmeGroupware. Did you mean 'domain'?
 *     domian = "acme.org";
 *     ^~~~~~
 *
 * Every phase (scanner, parser, binder, evaluator, dependency graph) appends to a DiagnosticBag instead of
 * throwing, so one run reports every independent error. The list of codes and their meaning is
 * docs/cvl.md; `codes.ts` is the single table in code.
 */
import type { DiagnosticCode } from "./codes.js";

export type Severity = "error" | "warning";

/** A loaded source text with the line table needed to turn offsets into line:col. */
export interface SourceFile {
  /** What diagnostics print: a path relative to the working directory, or a URL. */
  readonly name: string;
  readonly text: string;
  /** Offsets at which each line starts; lineStarts[0] === 0. */
  readonly lineStarts: readonly number[];
}

export function createSourceFile(name: string, text: string): SourceFile {
  let lineStarts: number[] | undefined;
  return {
    name,
    text,
    // Made when first asked for: only diagnostics need lines, and a large file has 50,000 of them.
    get lineStarts() {
      lineStarts ??= computeLineStarts(text);
      return lineStarts;
    },
  };
}

function computeLineStarts(text: string): number[] {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) lineStarts.push(i + 1);
    else if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      lineStarts.push(i + 1);
    }
  }
  return lineStarts;
}

/** A 1-based line and column for an offset. */
export function lineAndColumn(file: SourceFile, offset: number): { line: number; column: number } {
  const starts = file.lineStarts;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}

/** Where a diagnostic points: a span in a file. Files may be absent for errors with no source (argv). */
export interface Location {
  readonly file: SourceFile | undefined;
  readonly start: number;
  /** 0 for a diagnostic about the whole file: printed as "file: error ..." with no line, column or excerpt. */
  readonly length: number;
}

export interface RelatedInformation extends Location {
  readonly message: string;
}

export interface Diagnostic extends Location {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly message: string;
  /** Other places that explain this one: the declaration of a missing required parameter, an import chain. */
  readonly related: readonly RelatedInformation[];
}

export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  add(
    code: DiagnosticCode,
    location: Location,
    message: string,
    related: readonly RelatedInformation[] = [],
    severity: Severity = "error",
  ): Diagnostic {
    const diagnostic: Diagnostic = { code, severity, message, related, ...location };
    this.items.push(diagnostic);
    return diagnostic;
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === "error").length;
  }

  hasErrors(): boolean {
    return this.items.some((d) => d.severity === "error");
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders diagnostics by file name then position, so output is stable whatever order phases ran in. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      // Code-unit order, not localeCompare: the order must not depend on the user's locale.
      compareText(a.file?.name ?? "", b.file?.name ?? "") || a.start - b.start || compareText(a.code, b.code),
  );
}

function sourceLineWithCaret(file: SourceFile, start: number, length: number): string[] {
  const { line, column } = lineAndColumn(file, start);
  const lineStart = file.lineStarts[line - 1]!;
  const nextStart = file.lineStarts[line] ?? file.text.length;
  let text = file.text.slice(lineStart, nextStart).replace(/\r?\n$|\r$/, "");
  // Keep the excerpt readable for absurdly long lines: show a window around the column.
  let caretColumn = column - 1;
  if (text.length > 160) {
    const from = Math.max(0, caretColumn - 60);
    text = `${from > 0 ? "…" : ""}${text.slice(from, from + 120)}…`;
    caretColumn = caretColumn - from + (from > 0 ? 1 : 0);
  }
  // One column per character: tabs as spaces, other control characters (invisible or harmful on a
  // terminal) as '?'.
  text = text.replace(/\t/g, " ").replace(/[\u0000-\u001f\u007f]/g, "?");
  const visible = Math.max(1, Math.min(length, text.length - caretColumn));
  return [`  ${text}`, `  ${" ".repeat(caretColumn)}^${"~".repeat(Math.max(0, visible - 1))}`];
}

function formatLocation(location: Location): string {
  if (!location.file) return "";
  // An empty span is about the whole file (it cannot be read, or defines no appliance): no line:col.
  if (location.length === 0) return `${location.file.name}: `;
  const { line, column } = lineAndColumn(location.file, location.start);
  return `${location.file.name}:${line}:${column}: `;
}

/** Formats one diagnostic as the compiler-style block (header, source line, caret, related notes). */
export function formatDiagnostic(d: Diagnostic, options: { excerpt?: boolean } = {}): string {
  const lines = [`${formatLocation(d)}${d.severity} ${d.code}: ${d.message}`];
  if (d.file && d.length > 0 && options.excerpt !== false)
    lines.push(...sourceLineWithCaret(d.file, d.start, d.length));
  for (const r of d.related) lines.push(`  ${formatLocation(r)}note: ${r.message}`);
  return lines.join("\n");
}

/** The JSON shape of a diagnostic in `--json` output. */
export function diagnosticToJson(d: Diagnostic): Record<string, unknown> {
  const position = d.file ? lineAndColumn(d.file, d.start) : undefined;
  return {
    file: d.file?.name,
    line: position?.line,
    column: position?.column,
    severity: d.severity,
    code: d.code,
    message: d.message,
    related: d.related.map((r) => ({
      file: r.file?.name,
      ...(r.file ? lineAndColumn(r.file, r.start) : {}),
      message: r.message,
    })),
  };
}
