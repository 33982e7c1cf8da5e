/**
 * The CVL scanner: turns source text into tokens. It never throws: input that forms no token becomes an
 * Invalid token plus a diagnostic, and scanning goes on, so the parser can report later errors too.
 */
import type { DiagnosticBag, SourceFile } from "./diagnostics.js";
import { limits } from "./limits.js";
import { type Token, TokenKind } from "./tokens.js";

enum Ch {
  Tab = 9,
  LineFeed = 10,
  CarriageReturn = 13,
  Space = 32,
  DoubleQuote = 34,
  SingleQuote = 39,
  Comma = 44,
  Dot = 46,
  Slash = 47,
  Asterisk = 42,
  Semicolon = 59,
  Equals = 61,
  GreaterThan = 62,
  Backslash = 92,
  Underscore = 95,
  OpenBrace = 123,
  CloseBrace = 125,
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isNameChar(c: number): boolean {
  return isLetter(c) || isDigit(c) || c === Ch.Underscore;
}

/** Hints for characters people reach for from other languages. */
const tokenHints: Record<number, string> = {
  35: " (comments are // ... or /* ... */)",
  58: " (maps pair keys and values with =>)",
};

export interface ScanOptions {
  /** Return comments as tokens (the formatter wants them; the parser does not). */
  readonly keepComments?: boolean;
}

/** Every token of a file, in an array (the formatter's way; the parser streams with scanTokens). */
export function scan(file: SourceFile, diagnostics: DiagnosticBag, options: ScanOptions = {}): Token[] {
  const next = scanTokens(file, diagnostics, options);
  const tokens: Token[] = [];
  for (;;) {
    const token = next();
    tokens.push(token);
    if (token.kind === TokenKind.EndOfFile) return tokens;
  }
}

/**
 * A function returning the file's tokens one at a time, then EndOfFile forever. Streaming matters for
 * large files: holding every token of a 50,000-assignment file at once doubles the collector's work.
 */
export function scanTokens(
  file: SourceFile,
  diagnostics: DiagnosticBag,
  options: ScanOptions = {},
): () => Token {
  const text = file.text;
  const length = text.length;
  // Names repeat (a 50,000-assignment file has a few hundred distinct ones): keep one copy of each, so
  // the syntax tree does not hold hundreds of thousands of equal strings.
  const names = new Map<string, string>();
  const intern = (name: string): string => {
    const known = names.get(name);
    if (known !== undefined) return known;
    names.set(name, name);
    return name;
  };
  /** The token the last step produced (a step produces at most one). */
  let produced: Token | undefined;
  let pos = 0;
  let newlines = 0;

  const report = (code: Parameters<DiagnosticBag["add"]>[0], start: number, len: number, message: string) =>
    diagnostics.add(code, { file, start, length: Math.max(1, len) }, message);

  const push = (kind: TokenKind, start: number, end: number, value: string) => {
    produced = { kind, start, end, value, newlinesBefore: newlines };
    newlines = 0;
  };

  const step = (): void => {
    const start = pos;
    const c = text.charCodeAt(pos);
    switch (c) {
      case Ch.LineFeed:
        newlines++;
        pos++;
        return;
      case Ch.CarriageReturn:
        newlines++;
        pos += text.charCodeAt(pos + 1) === Ch.LineFeed ? 2 : 1;
        return;
      case Ch.Space:
      case Ch.Tab:
        pos++;
        return;
      case Ch.OpenBrace:
        pos++;
        push(TokenKind.OpenBrace, start, pos, "{");
        return;
      case Ch.CloseBrace:
        pos++;
        push(TokenKind.CloseBrace, start, pos, "}");
        return;
      case Ch.Comma:
        pos++;
        push(TokenKind.Comma, start, pos, ",");
        return;
      case Ch.Semicolon:
        pos++;
        push(TokenKind.Semicolon, start, pos, ";");
        return;
      case Ch.Dot:
        pos++;
        push(TokenKind.Dot, start, pos, ".");
        return;
      case Ch.Equals:
        if (text.charCodeAt(pos + 1) === Ch.GreaterThan) {
          pos += 2;
          push(TokenKind.Arrow, start, pos, "=>");
        } else {
          pos++;
          push(TokenKind.Equals, start, pos, "=");
        }
        return;
      case Ch.DoubleQuote:
        pos = scanString(start, Ch.DoubleQuote);
        return;
      case Ch.SingleQuote:
        // Recover as a string, so that one mistake is one error, not three.
        report("CVL1006", start, 1, `strings take double quotes: write "..." instead of '...'`);
        pos = scanString(start, Ch.SingleQuote);
        return;
      case Ch.Slash: {
        const next = text.charCodeAt(pos + 1);
        if (next === Ch.Slash) {
          let end = pos + 2;
          while (end < length) {
            const e = text.charCodeAt(end);
            if (e === Ch.LineFeed || e === Ch.CarriageReturn) break;
            end++;
          }
          if (options.keepComments) push(TokenKind.LineComment, start, end, text.slice(start, end));
          pos = end;
          return;
        }
        if (next === Ch.Asterisk) {
          const close = text.indexOf("*/", pos + 2);
          const end = close < 0 ? length : close + 2;
          if (close < 0) report("CVL1005", start, 2, "this /* comment is never closed with */");
          // Line breaks inside a block comment do not count toward the next token's newlinesBefore.
          if (options.keepComments) push(TokenKind.BlockComment, start, end, text.slice(start, end));
          pos = end;
          return;
        }
        break;
      }
      default:
        if (isLetter(c)) {
          let end = pos + 1;
          while (end < length && isNameChar(text.charCodeAt(end))) end++;
          if (end - start > limits.identifierLength) {
            report(
              "CVL1007",
              start,
              end - start,
              `this name is ${end - start} characters long; names may have at most ${limits.identifierLength}`,
            );
          }
          push(TokenKind.Identifier, start, end, intern(text.slice(start, end)));
          pos = end;
          return;
        }
        if (isDigit(c) || c === Ch.Underscore) {
          let end = pos + 1;
          while (end < length && isNameChar(text.charCodeAt(end))) end++;
          const word = text.slice(start, end);
          // "OpenLDAP 1;" is the paper's own typo for "OpenLDAP l;" (a PDF rendering artefact).
          const hint =
            word === "1"
              ? " (a name starts with a letter; did you mean 'l'?)"
              : /^[0-9]+$/.test(word)
                ? ` (values are strings: write "${word}")`
                : " (a name starts with a letter)";
          report("CVL1006", start, end - start, `'${word}' is not a name${hint}`);
          push(TokenKind.Invalid, start, end, word);
          pos = end;
          return;
        }
    }
    // Anything else: one code point that cannot start a token.
    const codePoint = text.codePointAt(pos) ?? c;
    const width = codePoint > 0xffff ? 2 : 1;
    if (codePoint < 32 || codePoint === 127) {
      report(
        "CVL1010",
        start,
        width,
        `the control character U+${codePoint.toString(16).toUpperCase().padStart(4, "0")} is not allowed in CVL source`,
      );
    } else {
      report(
        "CVL1006",
        start,
        width,
        `the character '${String.fromCodePoint(codePoint)}' cannot start a token${tokenHints[codePoint] ?? ""}`,
      );
    }
    pos += width;
    push(TokenKind.Invalid, start, pos, text.slice(start, pos));
  };
  const endOfFile: Token = {
    kind: TokenKind.EndOfFile,
    start: length,
    end: length,
    value: "",
    newlinesBefore: 0,
  };
  // A function rather than a generator: a generator allocates a result object per token, and with
  // half a million tokens that garbage is what the collector spends its time on.
  return (): Token => {
    while (produced === undefined) {
      if (pos >= length) return { ...endOfFile, newlinesBefore: newlines };
      step();
    }
    const token = produced;
    produced = undefined;
    return token;
  };

  /** Scans "..." from the opening quote; returns the offset after it. Strings end at the line's end. */
  function scanString(start: number, quote: number): number {
    let p = start + 1;
    let value = "";
    let chunkStart = p;
    for (;;) {
      if (p >= length) break;
      const c = text.charCodeAt(p);
      if (c === quote) {
        value += text.slice(chunkStart, p);
        p++;
        finish(p, true);
        return p;
      }
      if (c === Ch.LineFeed || c === Ch.CarriageReturn) break;
      if (c === Ch.Backslash) {
        value += text.slice(chunkStart, p);
        const e = text.charCodeAt(p + 1);
        if (e === Ch.DoubleQuote || e === Ch.Backslash) value += text[p + 1];
        else if (e === 110) value += "\n";
        else if (e === 116) value += "\t";
        else {
          const shown = Number.isNaN(e) ? "" : String.fromCharCode(e);
          report(
            "CVL1009",
            p,
            2,
            `'\\${shown}' is not an escape; the escapes are \\" \\\\ \\n and \\t (write \\\\ for a backslash)`,
          );
          if (!Number.isNaN(e) && e !== Ch.LineFeed && e !== Ch.CarriageReturn) value += shown;
          else {
            chunkStart = p + 1;
            p++;
            continue;
          }
        }
        p += 2;
        chunkStart = p;
        continue;
      }
      if (c < 32 && c !== Ch.Tab) {
        report(
          "CVL1010",
          p,
          1,
          `the control character U+${c.toString(16).toUpperCase().padStart(4, "0")} is not allowed in a string`,
        );
      }
      p++;
    }
    value += text.slice(chunkStart, p);
    report("CVL1004", start, p - start, "this string is not closed with '\"' before the end of the line");
    finish(p, false);
    return p;

    function finish(end: number, _closed: boolean) {
      if (value.length > limits.stringLength) {
        report(
          "CVL1008",
          start,
          Math.min(end - start, 80),
          `this string is ${value.length} characters long; strings may have at most ${limits.stringLength}`,
        );
      }
      push(TokenKind.String, start, end, value);
    }
  }
}
