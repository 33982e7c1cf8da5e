/**
 * The CVL scanner: turns source text into tokens. It never throws: input that forms no token becomes an
 * Invalid token plus a diagnostic, and scanning goes on, so the parser can report later errors too.
 */
import type { DiagnosticCode } from "./codes.js";
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

/** Every token of a file, as objects in an array (the formatter's way; the parser reads a Scanner). */
export function scan(file: SourceFile, diagnostics: DiagnosticBag, options: ScanOptions = {}): Token[] {
  const scanner = new Scanner(file, diagnostics, options);
  const tokens: Token[] = [];
  for (;;) {
    const kind = scanner.scan();
    tokens.push({
      kind,
      start: scanner.tokenStart,
      end: scanner.tokenEnd,
      value: scanner.tokenValue,
      newlinesBefore: scanner.newlinesBefore,
    });
    if (kind === TokenKind.EndOfFile) return tokens;
  }
}

/**
 * Scans a file one token at a time. As in the TypeScript compiler, the current token lives in the
 * scanner's fields (token, tokenStart, tokenEnd, tokenValue, newlinesBefore), not in an object per
 * token: a 50,000-assignment file has half a million tokens, and that garbage is what the collector
 * would spend its time on. After the last token, scan() returns EndOfFile forever.
 */
export class Scanner {
  /** The current token. */
  token: TokenKind = TokenKind.EndOfFile;
  /** Offset of its first character. */
  tokenStart = 0;
  /** Offset just past its last character. */
  tokenEnd = 0;
  /** Identifier text, a string's decoded value (without quotes and escapes), or the token's text. */
  tokenValue = "";
  /** How many line breaks precede it (the formatter keeps blank lines and comment placement). */
  newlinesBefore = 0;
  /**
   * Whether scanning it reported input that breaks what follows (an unclosed string or comment): the
   * parser does not report its own complaint about the next token, which would be a cascade.
   */
  breaksNext = false;

  private readonly text: string;
  private pos = 0;
  /** Line breaks seen since the last token. */
  private newlines = 0;
  /**
   * How far the scanner has ever got. Input is reported on when it is first scanned: what look-ahead
   * scanned is scanned again after restore(), and must not be reported twice.
   */
  private scannedTo = 0;
  /** Whether the token being scanned is reported on (it was not scanned before). */
  private reporting = true;
  /** Where look-ahead started (see lookAhead and restore). */
  private savedPos = 0;
  private savedNewlines = 0;
  private savedToken = TokenKind.EndOfFile;
  private savedStart = 0;
  private savedEnd = 0;
  private savedValue = "";
  private savedNewlinesBefore = 0;
  private savedBreaksNext = false;
  /**
   * Names repeat (a 50,000-assignment file has a few hundred distinct ones): keep one copy of each, so
   * the syntax tree does not hold hundreds of thousands of equal strings.
   */
  private readonly names = new Map<string, string>();

  constructor(
    private readonly file: SourceFile,
    private readonly diagnostics: DiagnosticBag,
    private readonly options: ScanOptions = {},
  ) {
    this.text = file.text;
  }

  /** Scans the next token into the fields and returns its kind. */
  scan(): TokenKind {
    this.breaksNext = false;
    this.reporting = this.pos >= this.scannedTo;
    const kind = this.scanToken();
    if (this.pos > this.scannedTo) this.scannedTo = this.pos;
    return kind;
  }

  private scanToken(): TokenKind {
    const text = this.text;
    const length = text.length;
    for (;;) {
      const start = this.pos;
      if (start >= length) return this.produce(TokenKind.EndOfFile, length, length, "");
      const c = text.charCodeAt(start);
      switch (c) {
        case Ch.LineFeed:
          this.newlines++;
          this.pos++;
          continue;
        case Ch.CarriageReturn:
          this.newlines++;
          this.pos += text.charCodeAt(start + 1) === Ch.LineFeed ? 2 : 1;
          continue;
        case Ch.Space:
        case Ch.Tab:
          this.pos++;
          continue;
        case Ch.OpenBrace:
          return this.punctuation(TokenKind.OpenBrace, "{");
        case Ch.CloseBrace:
          return this.punctuation(TokenKind.CloseBrace, "}");
        case Ch.Comma:
          return this.punctuation(TokenKind.Comma, ",");
        case Ch.Semicolon:
          return this.punctuation(TokenKind.Semicolon, ";");
        case Ch.Dot:
          return this.punctuation(TokenKind.Dot, ".");
        case Ch.Equals:
          if (text.charCodeAt(start + 1) === Ch.GreaterThan) {
            this.pos += 2;
            return this.produce(TokenKind.Arrow, start, start + 2, "=>");
          }
          return this.punctuation(TokenKind.Equals, "=");
        case Ch.DoubleQuote:
          return this.scanString(start, Ch.DoubleQuote);
        case Ch.SingleQuote:
          // Recover as a string, so that one mistake is one error, not three.
          this.report("CVL1006", start, 1, `strings take double quotes: write "..." instead of '...'`);
          return this.scanString(start, Ch.SingleQuote);
        case Ch.Slash: {
          const next = text.charCodeAt(start + 1);
          if (next === Ch.Slash) {
            let end = start + 2;
            while (end < length) {
              const e = text.charCodeAt(end);
              if (e === Ch.LineFeed || e === Ch.CarriageReturn) break;
              end++;
            }
            this.pos = end;
            if (this.options.keepComments)
              return this.produce(TokenKind.LineComment, start, end, text.slice(start, end));
            continue;
          }
          if (next === Ch.Asterisk) {
            const close = text.indexOf("*/", start + 2);
            const end = close < 0 ? length : close + 2;
            if (close < 0) {
              this.report("CVL1005", start, 2, "this /* comment is never closed with */");
              this.breaksNext = true;
            }
            this.pos = end;
            // Line breaks inside a block comment do not count toward the next token's newlinesBefore.
            if (this.options.keepComments)
              return this.produce(TokenKind.BlockComment, start, end, text.slice(start, end));
            continue;
          }
          break;
        }
        default:
          if (isLetter(c)) return this.scanName(start);
          if (isDigit(c) || c === Ch.Underscore) return this.scanNotAName(start);
      }
      return this.scanInvalidCharacter(start, c);
    }
  }

  /**
   * Looks ahead: remembers where the scanner is, so that restore() can put it back after the caller has
   * scanned a few tokens further. One level only: the parser never looks ahead while looking ahead.
   */
  lookAhead(): void {
    this.savedPos = this.pos;
    this.savedNewlines = this.newlines;
    this.savedToken = this.token;
    this.savedStart = this.tokenStart;
    this.savedEnd = this.tokenEnd;
    this.savedValue = this.tokenValue;
    this.savedNewlinesBefore = this.newlinesBefore;
    this.savedBreaksNext = this.breaksNext;
  }

  /** Puts the scanner back where lookAhead() found it. */
  restore(): void {
    this.pos = this.savedPos;
    this.newlines = this.savedNewlines;
    this.token = this.savedToken;
    this.tokenStart = this.savedStart;
    this.tokenEnd = this.savedEnd;
    this.tokenValue = this.savedValue;
    this.newlinesBefore = this.savedNewlinesBefore;
    this.breaksNext = this.savedBreaksNext;
  }

  private produce(kind: TokenKind, start: number, end: number, value: string): TokenKind {
    this.token = kind;
    this.tokenStart = start;
    this.tokenEnd = end;
    this.tokenValue = value;
    this.newlinesBefore = this.newlines;
    // The end of the file is returned again and again, each time with the line breaks before it.
    if (kind !== TokenKind.EndOfFile) this.newlines = 0;
    return kind;
  }

  /** A one-character token. */
  private punctuation(kind: TokenKind, text: string): TokenKind {
    const start = this.pos++;
    return this.produce(kind, start, start + 1, text);
  }

  private report(code: DiagnosticCode, start: number, length: number, message: string): void {
    if (this.reporting)
      this.diagnostics.add(code, { file: this.file, start, length: Math.max(1, length) }, message);
  }

  private intern(name: string): string {
    const known = this.names.get(name);
    if (known !== undefined) return known;
    this.names.set(name, name);
    return name;
  }

  private scanName(start: number): TokenKind {
    const text = this.text;
    let end = start + 1;
    while (end < text.length && isNameChar(text.charCodeAt(end))) end++;
    if (end - start > limits.identifierLength) {
      this.report(
        "CVL1007",
        start,
        end - start,
        `this name is ${end - start} characters long; names may have at most ${limits.identifierLength}`,
      );
    }
    this.pos = end;
    return this.produce(TokenKind.Identifier, start, end, this.intern(text.slice(start, end)));
  }

  /** A word starting with a digit or '_': reported, and returned as Invalid. */
  private scanNotAName(start: number): TokenKind {
    const text = this.text;
    let end = start + 1;
    while (end < text.length && isNameChar(text.charCodeAt(end))) end++;
    const word = text.slice(start, end);
    // "OpenLDAP 1;" is the paper's own typo for "OpenLDAP l;" (a PDF rendering artefact).
    const hint =
      word === "1"
        ? " (a name starts with a letter; did you mean 'l'?)"
        : /^[0-9]+$/.test(word)
          ? ` (values are strings: write "${word}")`
          : " (a name starts with a letter)";
    this.report("CVL1006", start, end - start, `'${word}' is not a name${hint}`);
    this.pos = end;
    return this.produce(TokenKind.Invalid, start, end, word);
  }

  /** One code point that cannot start a token: reported, and returned as Invalid. */
  private scanInvalidCharacter(start: number, c: number): TokenKind {
    const text = this.text;
    const codePoint = text.codePointAt(start) ?? c;
    const width = codePoint > 0xffff ? 2 : 1;
    if (codePoint < 32 || codePoint === 127) {
      this.report(
        "CVL1010",
        start,
        width,
        `the control character U+${codePoint.toString(16).toUpperCase().padStart(4, "0")} is not allowed in CVL source`,
      );
    } else {
      this.report(
        "CVL1006",
        start,
        width,
        `the character '${String.fromCodePoint(codePoint)}' cannot start a token${tokenHints[codePoint] ?? ""}`,
      );
    }
    this.pos = start + width;
    return this.produce(TokenKind.Invalid, start, this.pos, text.slice(start, this.pos));
  }

  /** Scans "..." from the opening quote. Strings end at the line's end. */
  private scanString(start: number, quote: number): TokenKind {
    const text = this.text;
    const length = text.length;
    let p = start + 1;
    let value = "";
    let chunkStart = p;
    let closed = false;
    for (;;) {
      if (p >= length) break;
      const c = text.charCodeAt(p);
      if (c === quote) {
        value += text.slice(chunkStart, p);
        p++;
        closed = true;
        break;
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
          this.report(
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
        this.report(
          "CVL1010",
          p,
          1,
          `the control character U+${c.toString(16).toUpperCase().padStart(4, "0")} is not allowed in a string`,
        );
      }
      p++;
    }
    if (!closed) {
      value += text.slice(chunkStart, p);
      this.report(
        "CVL1004",
        start,
        p - start,
        "this string is not closed with '\"' before the end of the line",
      );
      this.breaksNext = true;
    }
    if (value.length > limits.stringLength) {
      this.report(
        "CVL1008",
        start,
        Math.min(p - start, 80),
        `this string is ${value.length} characters long; strings may have at most ${limits.stringLength}`,
      );
    }
    this.pos = p;
    return this.produce(TokenKind.String, start, p, value);
  }
}
