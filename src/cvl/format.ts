/**
 * The CVL formatter behind `cui fmt`: one canonical layout, so diffs between appliance versions show
 * changes of meaning, not of taste.
 *
 * It walks the syntax tree and, in step, the token stream with comments, so every comment is emitted at
 * the place it was found. The layout is built as a small document of groups, lines and indentation (after
 * Wadler's "prettier printer", as Prettier does it): a map stays on one line when its statement fits in
 * 100 columns and breaks one pair per line when not. A file with syntax errors is never reformatted, and
 * the output is re-parsed and compared with the input (tree and comments) before it is returned, so a
 * formatter bug can never silently change what a file means.
 */
import { isDeepStrictEqual } from "node:util";
import type {
  Assignment,
  CvlFile,
  DottedName,
  MapLiteral,
  Member,
  ObjectDeclaration,
  Rhs,
  Statement,
} from "./ast.js";
import {
  createSourceFile,
  type Diagnostic,
  DiagnosticBag,
  type SourceFile,
  sortDiagnostics,
} from "./diagnostics.js";
import { parse } from "./parser.js";
import { scan } from "./scanner.js";
import { type Token, TokenKind } from "./tokens.js";

/** The column limit within which a statement's maps stay on one line. */
export const lineWidth = 100;
const indentUnit = "  ";

export interface FormatResult {
  /** The formatted text; absent when the file has syntax errors. */
  readonly text?: string;
  readonly diagnostics: Diagnostic[];
}

/** Formats a CVL file, or returns its syntax errors (and no text) if it has any. */
export function formatCvl(source: SourceFile): FormatResult {
  const diagnostics = new DiagnosticBag();
  const file = parse(source, diagnostics);
  if (diagnostics.hasErrors()) return { diagnostics: sortDiagnostics(diagnostics.items) };
  // The parser has reported every scanning problem already; this second scan only adds the comments.
  const tokens = moveCommentsAfterPunctuation(scan(source, new DiagnosticBag(), { keepComments: true }));
  const text = printDoc(new Builder(tokens).file(file));
  verify(source, file, text);
  return { text, diagnostics: diagnostics.items };
}

/** The tree without positions or source: what must be equal before and after formatting. */
export function syntaxShape(file: CvlFile): unknown {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== "object") return value;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      // `starts` are positions too (of the names in a dotted name).
      if (key !== "pos" && key !== "end" && key !== "starts" && key !== "source" && v !== undefined)
        out[key] = strip(v);
    }
    return out;
  };
  return strip(file.statements);
}

/** Comment texts as the formatter emits them: line ends normalised, trailing whitespace removed. */
function commentText(token: Token): string {
  return token.value.replace(/\r\n?/g, "\n").replace(/[ \t]+$/gm, "");
}

function comments(source: SourceFile): string[] {
  return scan(source, new DiagnosticBag(), { keepComments: true }).filter(isComment).map(commentText);
}

/** The safety net: the output must parse to the same tree and keep every comment, in order. */
function verify(source: SourceFile, file: CvlFile, text: string): void {
  const output = createSourceFile(source.name, text);
  const bag = new DiagnosticBag();
  const again = parse(output, bag);
  const problem = bag.hasErrors()
    ? `the output has syntax errors (${bag.items[0]?.message})`
    : !isDeepStrictEqual(syntaxShape(again), syntaxShape(file))
      ? "the output means something else"
      : !isDeepStrictEqual(comments(output), comments(source))
        ? "the output lost or changed a comment"
        : undefined;
  if (problem) throw new Error(`cui fmt failed on ${source.name}: ${problem}; the file was left unchanged`);
}

function isComment(token: Token): boolean {
  return token.kind === TokenKind.LineComment || token.kind === TokenKind.BlockComment;
}

/**
 * Moves comments that come just before a ',' or ';' to just after it, so `"v" // why` followed by ','
 * on the next line becomes `"v", // why`: punctuation belongs to what precedes it. Line structure is
 * kept: if the punctuation started a line, what follows it still does (so it cannot join a comment).
 */
function moveCommentsAfterPunctuation(tokens: readonly Token[]): Token[] {
  const out: Token[] = [];
  // Line breaks the moved punctuation had before it: the token after it must still start a line.
  let carry = 0;
  for (const token of tokens) {
    let first = out.length;
    if (token.kind === TokenKind.Comma || token.kind === TokenKind.Semicolon) {
      while (first > 0 && isComment(out[first - 1]!)) first--;
    }
    if (first === out.length) {
      out.push(carry > token.newlinesBefore ? { ...token, newlinesBefore: carry } : token);
      carry = 0;
      continue;
    }
    const moved = out.splice(first);
    out.push({ ...token, newlinesBefore: 0 }, ...moved);
    carry = token.newlinesBefore;
  }
  return out;
}

// ---- the layout document and its printer ----

/**
 * A layout document. A `line` is a space when its group fits on the line and a newline when it does
 * not; a `hardline` always breaks, and so breaks every group around it (a comment that ends its line
 * puts one after itself).
 */
type Doc = string | readonly Doc[] | Group | Indent | Line | HardLine;
interface Group {
  readonly kind: "group";
  readonly contents: Doc;
  broken: boolean;
}
interface Indent {
  readonly kind: "indent";
  readonly contents: Doc;
}
interface Line {
  readonly kind: "line";
}
interface HardLine {
  readonly kind: "hardline";
}

const line: Line = { kind: "line" };
const hardline: HardLine = { kind: "hardline" };
const group = (contents: Doc, broken = false): Group => ({ kind: "group", contents, broken });
const indent = (contents: Doc): Indent => ({ kind: "indent", contents });

/** Marks every group that contains a forced break as broken; returns whether `doc` contains one. */
function propagateBreaks(doc: Doc): boolean {
  if (typeof doc === "string") return doc.includes("\n");
  if (Array.isArray(doc)) return doc.map(propagateBreaks).includes(true);
  const d = doc as Exclude<Doc, string | readonly Doc[]>;
  switch (d.kind) {
    case "group":
      if (propagateBreaks(d.contents)) d.broken = true;
      return d.broken;
    case "indent":
      return propagateBreaks(d.contents);
    case "hardline":
      return true;
    case "line":
      return false;
  }
}

type Mode = "flat" | "break";
type Command = readonly [indentation: number, mode: Mode, doc: Doc];

/** Width in columns: code points, so a non-ASCII character counts once. */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Whether `next`, followed by what is on the stack, fits in `room` columns up to the next line break. */
function fits(next: Command, rest: readonly Command[], room: number): boolean {
  const commands: Command[] = [next];
  let restIndex = rest.length;
  while (room >= 0) {
    const command = commands.pop() ?? (restIndex > 0 ? rest[--restIndex] : undefined);
    if (!command) return true;
    const [ind, mode, doc] = command;
    if (typeof doc === "string") {
      const newline = doc.indexOf("\n");
      room -= width(newline < 0 ? doc : doc.slice(0, newline));
      if (newline >= 0) return room >= 0;
      continue;
    }
    if (Array.isArray(doc)) {
      for (let i = doc.length - 1; i >= 0; i--) commands.push([ind, mode, doc[i]!]);
      continue;
    }
    const d = doc as Exclude<Doc, string | readonly Doc[]>;
    switch (d.kind) {
      case "group":
        commands.push([ind, d.broken ? "break" : mode, d.contents]);
        break;
      case "indent":
        commands.push([ind + 1, mode, d.contents]);
        break;
      case "line":
        if (mode === "break") return true;
        room -= 1;
        break;
      case "hardline":
        return true;
    }
  }
  return false;
}

function printDoc(doc: Doc): string {
  propagateBreaks(doc);
  const out: string[] = [];
  let column = 0;
  const stack: Command[] = [[0, "break", doc]];
  while (stack.length > 0) {
    const [ind, mode, d] = stack.pop()!;
    if (typeof d === "string") {
      out.push(d);
      const newline = d.lastIndexOf("\n");
      column = newline < 0 ? column + width(d) : width(d.slice(newline + 1));
      continue;
    }
    if (Array.isArray(d)) {
      for (let i = d.length - 1; i >= 0; i--) stack.push([ind, mode, d[i]!]);
      continue;
    }
    const doc = d as Exclude<Doc, string | readonly Doc[]>;
    switch (doc.kind) {
      case "group": {
        const flat =
          !doc.broken && (mode === "flat" || fits([ind, "flat", doc.contents], stack, lineWidth - column));
        stack.push([ind, flat ? "flat" : "break", doc.contents]);
        break;
      }
      case "indent":
        stack.push([ind + 1, mode, doc.contents]);
        break;
      case "line":
        if (mode === "flat") {
          out.push(" ");
          column++;
          break;
        }
        stack.push([ind, mode, hardline]);
        break;
      case "hardline":
        out.push(`\n${indentUnit.repeat(ind)}`);
        column = ind * indentUnit.length;
        break;
    }
  }
  // Indentation of blank lines, and block comments' own trailing blanks, go: no line ends in whitespace.
  // (No string literal can end a line: a newline inside one is always written as \n.)
  return out.join("").replace(/[ \t]+$/gm, "");
}

// ---- from the tree and the tokens to the document ----

/** How many blank lines go before a line: none, exactly one, or the author's (at most one). */
type Blank = "none" | "one" | "keep";

/**
 * What separates a token from the one before it in the canonical layout. Comments found in between
 * decide the rest: a comment on the previous token's line trails it; one on its own line stays on its
 * own line, at the indentation of what follows.
 */
type Separator =
  /** Within a statement: nothing or a space. */
  | { readonly kind: "flat"; readonly text: "" | " " }
  /** A group's line: a space, or a newline when the group breaks. */
  | { readonly kind: "line" }
  /** Always a newline. `first` rules blank lines before the first line of the gap, `token` before the token. */
  | { readonly kind: "hard"; readonly first: Blank; readonly token: Blank }
  /** The start of the file: nothing before the first line. */
  | { readonly kind: "start" };

const none: Separator = { kind: "flat", text: "" };
const space: Separator = { kind: "flat", text: " " };
const lineSep: Separator = { kind: "line" };
const start: Separator = { kind: "start" };
/** Between top-level statements: exactly one blank line. */
const topLevel: Separator = { kind: "hard", first: "one", token: "keep" };
const firstMember: Separator = { kind: "hard", first: "none", token: "keep" };
const member: Separator = { kind: "hard", first: "keep", token: "keep" };
/** Before a body's '}': comments keep their blank lines, the brace gets none. */
const closeBody: Separator = { kind: "hard", first: "keep", token: "none" };
const closeEmptyBody: Separator = { kind: "hard", first: "none", token: "none" };
/** Before the end of the file: a blank line before trailing comments, nothing else. */
const endOfFile: Separator = { kind: "hard", first: "one", token: "none" };

/** What comes before a token: its gap's comments, then the break (or space) right before it. */
interface Gap {
  readonly before: Doc[];
  readonly brk: Doc;
}

class Builder {
  private index = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  file(file: CvlFile): Doc {
    const parts: Doc[] = file.statements.map((s, i) => this.statement(s, i === 0 ? start : topLevel));
    const end = this.gap(file.statements.length === 0 ? start : endOfFile);
    this.expectKind(TokenKind.EndOfFile);
    parts.push(end.before);
    // One final newline, unless the file is empty.
    return file.statements.length > 0 || end.before.length > 0 ? [parts, hardline] : parts;
  }

  private statement(s: Statement, sep: Separator): Doc {
    switch (s.kind) {
      case "Import":
        return [
          this.token(TokenKind.Identifier, sep),
          this.map(s.map, space, true),
          this.token(TokenKind.Identifier, space),
          this.token(TokenKind.Semicolon, none),
        ];
      case "Assignment":
        return this.assignment(s, sep);
      case "Object":
        return this.object(s, sep);
    }
  }

  private object(o: ObjectDeclaration, sep: Separator): Doc {
    const head: Doc[] = [this.token(TokenKind.Identifier, sep)];
    if (o.base) head.push(this.token(TokenKind.Identifier, space), this.token(TokenKind.Identifier, space));
    head.push(this.token(TokenKind.OpenBrace, space));
    const members = o.members.map((m, i) => this.member(m, i === 0 ? firstMember : member));
    const empty = o.members.length === 0;
    // `Name {}` when there is nothing inside, not even a comment.
    const close = this.gap(empty && !this.atComment() ? none : empty ? closeEmptyBody : closeBody);
    this.expectKind(TokenKind.CloseBrace);
    return [head, indent([members, close.before]), close.brk, "}"];
  }

  private member(m: Member, sep: Separator): Doc {
    switch (m.kind) {
      case "Var":
        return [
          this.token(TokenKind.Identifier, sep),
          m.attributes.map(() => this.token(TokenKind.String, space)),
          this.names(m.names.length),
          this.token(TokenKind.Semicolon, none),
        ];
      case "Component":
        return [
          this.token(TokenKind.Identifier, sep),
          this.names(m.names.length),
          this.token(TokenKind.Semicolon, none),
        ];
      case "Assignment":
        return this.assignment(m, sep);
    }
  }

  /** ` a, b, c` */
  private names(count: number): Doc {
    const parts: Doc[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) parts.push(this.token(TokenKind.Comma, none));
      parts.push(this.token(TokenKind.Identifier, space));
    }
    return parts;
  }

  /**
   * `a.b = v;` and, when there are several values, `a.b = v1, v2;` on one line if it fits, or else
   * `a.b =` with each value on its own line, indented.
   */
  private assignment(a: Assignment, sep: Separator): Doc {
    const target = this.dotted(a.target, sep);
    const equals = this.token(TokenKind.Equals, space);
    if (a.values.length === 1)
      return [target, equals, this.rhs(a.values[0]!, space), this.token(TokenKind.Semicolon, none)];
    const values = a.values.map((v, i) => [
      i > 0 ? this.token(TokenKind.Comma, none) : "",
      this.rhs(v, lineSep),
    ]);
    return [target, equals, group(indent(values)), this.token(TokenKind.Semicolon, none)];
  }

  private dotted(name: DottedName, sep: Separator): Doc {
    return name.names.map((_, i) =>
      i === 0
        ? this.token(TokenKind.Identifier, sep)
        : [this.token(TokenKind.Dot, none), this.token(TokenKind.Identifier, none)],
    );
  }

  private rhs(value: Rhs, sep: Separator): Doc {
    switch (value.kind) {
      case "String":
        return this.token(TokenKind.String, sep);
      case "DottedName":
        return this.dotted(value, sep);
      case "Map":
        return this.map(value, sep, false);
    }
  }

  /** `{ k => v, k2 => v2 }`, or one pair per line when it does not fit (imports: always). */
  private map(m: MapLiteral, sep: Separator, broken: boolean): Doc {
    const open = this.token(TokenKind.OpenBrace, sep);
    const pairs = m.pairs.map((p, i) => [
      i > 0 ? this.token(TokenKind.Comma, none) : "",
      this.token(p.key.kind === "Name" ? TokenKind.Identifier : TokenKind.String, lineSep),
      this.token(TokenKind.Arrow, space),
      this.rhs(p.value, space),
    ]);
    // A trailing comma is allowed but not canonical: drop it, keep its comments.
    let trailing: Doc[] = [];
    if (this.nextKind() === TokenKind.Comma) {
      trailing = this.gap(none).before;
      this.expectKind(TokenKind.Comma);
    }
    const close = this.gap(lineSep);
    this.expectKind(TokenKind.CloseBrace);
    return [open, group([indent([pairs, trailing, close.before]), close.brk, "}"], broken)];
  }

  // ---- the token cursor ----

  /** Emits the gap before the next token, then the token: the AST's structure must match the tokens. */
  private token(kind: TokenKind, sep: Separator): Doc {
    const { before, brk } = this.gap(sep);
    const token = this.expectKind(kind);
    return [before, brk, token.kind === TokenKind.String ? quote(token.value) : token.value];
  }

  private expectKind(kind: TokenKind): Token {
    const token = this.tokens[this.index]!;
    // Cannot happen for a file that parsed without errors; a bug if it does.
    if (token.kind !== kind)
      throw new Error(
        `formatter out of step: expected ${kind}, found ${token.kind} at offset ${token.start}`,
      );
    if (kind !== TokenKind.EndOfFile) this.index++;
    return token;
  }

  private atComment(): boolean {
    return isComment(this.tokens[this.index]!);
  }

  /** The kind of the next token that is not a comment. */
  private nextKind(): TokenKind {
    let i = this.index;
    while (isComment(this.tokens[i]!)) i++;
    return this.tokens[i]!.kind;
  }

  /**
   * Consumes the comments before the next token and lays them out. A comment on the previous token's
   * line trails it; if it ends that line (a line comment always does), what follows starts a new line.
   * A comment on a line of its own keeps a line of its own, and the token goes on a new line after it.
   */
  private gap(sep: Separator): Gap {
    const before: Doc[] = [];
    let ownLines = false;
    let lineEnded = false;
    for (;;) {
      const token = this.tokens[this.index]!;
      if (!isComment(token)) {
        if (!ownLines && !lineEnded)
          return { before, brk: this.lineBreak(sep, token.newlinesBefore, "only") };
        const brk = ownLines
          ? token.newlinesBefore === 0
            ? " " // after a block comment that shares the token's line
            : this.lineBreak(sep, token.newlinesBefore, "token")
          : sep.kind === "hard"
            ? this.lineBreak(sep, token.newlinesBefore, "only")
            : hardline;
        // Within a statement, what follows a line break in a gap is indented one more level.
        return sep.kind === "flat" ? { before: [indent([before, brk])], brk: "" } : { before, brk };
      }
      this.index++;
      const text = commentText(token);
      if (token.newlinesBefore > 0 || (sep.kind === "start" && !ownLines)) {
        before.push(this.lineBreak(sep, token.newlinesBefore, ownLines ? "comment" : "first"), text);
        ownLines = true;
        continue;
      }
      before.push(` ${text}`);
      const next = this.tokens[this.index]!;
      if (
        token.kind === TokenKind.LineComment ||
        next.newlinesBefore > 0 ||
        next.kind === TokenKind.EndOfFile
      ) {
        lineEnded = true;
      }
    }
  }

  /**
   * The break before a line of the gap: `only` is the token when no comment has a line of its own,
   * `first` the first comment that has, `comment` a later one, `token` the token after them.
   */
  private lineBreak(sep: Separator, newlines: number, which: "only" | "first" | "comment" | "token"): Doc {
    const blank = (rule: Blank): Doc =>
      rule === "one" || (rule === "keep" && newlines > 1) ? [hardline, hardline] : hardline;
    switch (sep.kind) {
      case "flat":
        return which === "only" ? sep.text : hardline;
      case "line":
        // A comment's line break must be hard: it breaks the group, and with it every line of the group.
        return which === "only" ? line : hardline;
      case "start":
        return which === "only" || which === "first" ? "" : blank("keep");
      case "hard":
        if (which === "only") return blank(sep.token === "none" ? "none" : sep.first);
        return blank(which === "first" ? sep.first : which === "comment" ? "keep" : sep.token);
    }
  }
}

/** A string literal with the canonical escapes. */
function quote(value: string): string {
  return `"${value.replace(/[\\"\n\t]/g, (c) => (c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\${c}`))}"`;
}
