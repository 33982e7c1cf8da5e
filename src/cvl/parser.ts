/**
 * The CVL parser: recursive descent over the grammar of docs/cvl.md, after the TypeScript compiler's:
 * it never throws and never loops. On an unexpected token it reports a coded diagnostic and skips to a
 * point where parsing can resume (the next ';', the end of the enclosing object, or the start of the
 * next statement), so one run reports every independent error.
 */
import type {
  Assignment,
  ComponentDeclaration,
  CvlFile,
  DottedName,
  ImportStatement,
  MapLiteral,
  Member,
  Name,
  ObjectDeclaration,
  Pair,
  Rhs,
  Statement,
  StringLiteral,
  VarDeclaration,
} from "./ast.js";
import type { DiagnosticCode } from "./codes.js";
import type { DiagnosticBag, SourceFile } from "./diagnostics.js";
import { limits } from "./limits.js";
import { scanTokens } from "./scanner.js";
import { keywords, type Token, TokenKind } from "./tokens.js";

export function parse(source: SourceFile, diagnostics: DiagnosticBag): CvlFile {
  return new Parser(source, diagnostics).parseFile();
}

function describe(token: Token): string {
  switch (token.kind) {
    case TokenKind.EndOfFile:
      return "the end of the file";
    case TokenKind.Identifier:
      return `'${token.value}'`;
    case TokenKind.String:
      return "a string";
    case TokenKind.Invalid:
      return `'${token.value}'`;
    default:
      return token.kind;
  }
}

class Parser {
  /** Offset of the last reported error: a second error at the same place is a cascade, not news. */
  private lastErrorAt = -1;
  /** Tokens right after input the scanner reported as broken: parse errors there are not reported again. */
  private readonly afterScanError = new Set<Token>();
  private readonly scanner: () => Token;
  /** Tokens pulled from the scanner but not consumed yet (at most two: the parser looks one ahead). */
  private readonly lookahead: Token[] = [];
  /** How many tokens were consumed: the loops use it to make sure they always make progress. */
  private index = 0;
  /** End offset of the last consumed token. */
  private previousEnd = 0;
  /** The next valid token follows input the scanner reported (see pull). */
  private markNext = false;
  private mapDepth = 0;

  constructor(
    private readonly source: SourceFile,
    private readonly diagnostics: DiagnosticBag,
  ) {
    this.scanner = scanTokens(source, diagnostics);
  }

  /**
   * Pulls the next valid token from the scanner. Where the scanner reported input that breaks a token
   * (garbage, an unclosed string or comment), the parser's complaint about the next token would be a
   * cascade of the same mistake: such tokens are remembered in afterScanError.
   */
  private pull(): Token {
    for (;;) {
      const reportedBefore = this.diagnostics.items.length;
      const token = this.scanner();
      let breaksNext = false;
      for (let i = reportedBefore; i < this.diagnostics.items.length; i++) {
        const code = this.diagnostics.items[i]!.code;
        if (code === "CVL1004" || code === "CVL1005") breaksNext = true;
      }
      if (token.kind === TokenKind.Invalid) {
        this.markNext = true;
        continue;
      }
      if (this.markNext) this.afterScanError.add(token);
      this.markNext = breaksNext;
      return token;
    }
  }

  // ---- token helpers ----

  private get token(): Token {
    if (this.lookahead.length === 0) this.lookahead.push(this.pull());
    return this.lookahead[0]!;
  }

  private peek(offset = 1): Token {
    while (this.lookahead.length <= offset) {
      const last = this.lookahead[this.lookahead.length - 1];
      if (last?.kind === TokenKind.EndOfFile) return last;
      this.lookahead.push(this.pull());
    }
    return this.lookahead[offset]!;
  }

  private next(): Token {
    const t = this.token;
    if (t.kind !== TokenKind.EndOfFile) {
      this.lookahead.shift();
      this.index++;
      this.previousEnd = t.end;
    }
    return t;
  }

  private at(kind: TokenKind): boolean {
    return this.token.kind === kind;
  }

  private atKeyword(word: string): boolean {
    return this.token.kind === TokenKind.Identifier && this.token.value === word;
  }

  private error(code: DiagnosticCode, start: number, length: number, message: string): void {
    if (start === this.lastErrorAt || this.afterScanError.has(this.token)) return;
    this.lastErrorAt = start;
    this.diagnostics.add(code, { file: this.source, start, length: Math.max(1, length) }, message);
  }

  /** Consumes a token of the kind, or reports it missing (at the end of the previous token). */
  private expect(kind: TokenKind, context: string): boolean {
    if (this.at(kind)) {
      this.next();
      return true;
    }
    const t = this.token;
    // A missing ';' or '}' is best shown right after what came before it, as compilers do.
    const onNewLine = t.newlinesBefore > 0 || t.kind === TokenKind.EndOfFile;
    const where = onNewLine && this.index > 0 ? this.previousEnd : t.start;
    const length = onNewLine ? 1 : t.end - t.start;
    this.error("CVL1101", where, length, `${kind} expected ${context}, but found ${describe(t)}`);
    return false;
  }

  /**
   * Skips tokens until a point where a statement can start: after a ';' at this nesting level, before a
   * '}' that closes the enclosing block (when inBlock), or before a top-level statement start.
   */
  private synchronize(inBlock: boolean): void {
    let depth = 0;
    while (!this.at(TokenKind.EndOfFile)) {
      const t = this.token;
      if (t.kind === TokenKind.OpenBrace) depth++;
      else if (t.kind === TokenKind.CloseBrace) {
        if (depth === 0) {
          if (inBlock) return;
          this.next();
          return;
        }
        depth--;
      } else if (t.kind === TokenKind.Semicolon && depth === 0) {
        this.next();
        return;
      } else if (depth === 0 && t.newlinesBefore > 0 && this.startsStatement(inBlock)) {
        return;
      }
      this.next();
    }
  }

  /** Whether the current token plausibly starts a statement (used only after a line break). */
  private startsStatement(inBlock: boolean): boolean {
    if (this.token.kind !== TokenKind.Identifier) return false;
    const next = this.peek();
    if (inBlock) {
      return (
        this.token.value === keywords.var ||
        next.kind === TokenKind.Identifier ||
        next.kind === TokenKind.Equals ||
        next.kind === TokenKind.Dot
      );
    }
    return (
      this.token.value === keywords.import ||
      next.kind === TokenKind.OpenBrace ||
      (next.kind === TokenKind.Identifier && next.value === keywords.extends) ||
      (next.kind === TokenKind.Identifier && this.peek(2).kind === TokenKind.OpenBrace) ||
      next.kind === TokenKind.Equals
    );
  }

  /** Whether the current token starts an object member (to recover from a forgotten '{'). */
  private startsMember(): boolean {
    if (this.token.kind !== TokenKind.Identifier) return false;
    const next = this.peek();
    return (
      this.token.value === keywords.var ||
      next.kind === TokenKind.Equals ||
      next.kind === TokenKind.Dot ||
      (next.kind === TokenKind.Identifier &&
        next.value !== keywords.extends &&
        this.peek(2).kind !== TokenKind.OpenBrace)
    );
  }

  // ---- grammar ----

  parseFile(): CvlFile {
    const statements: Statement[] = [];
    while (!this.at(TokenKind.EndOfFile)) {
      const before = this.index;
      const statement = this.parseStatement();
      if (statement) statements.push(statement);
      if (this.index === before) this.next(); // never loop: always make progress
    }
    return { kind: "File", source: this.source, statements };
  }

  private parseStatement(): Statement | undefined {
    const t = this.token;
    if (t.kind === TokenKind.Identifier) {
      if (t.value === keywords.import) return this.parseImport();
      const next = this.peek();
      if (
        next.kind === TokenKind.OpenBrace ||
        (next.kind === TokenKind.Identifier && next.value === keywords.extends)
      ) {
        return this.parseObject();
      }
      if (next.kind === TokenKind.Equals || next.kind === TokenKind.Dot) return this.parseAssignment();
      if (next.kind === TokenKind.Identifier && this.peek(2).kind === TokenKind.OpenBrace) {
        // "Db ContainerAppliance {": report the missing 'extends' and read the object anyway.
        this.error(
          "CVL1102",
          next.start,
          next.end - next.start,
          `'extends' expected between '${t.value}' and '${next.value}'`,
        );
        return this.parseObject(true);
      }
      this.error(
        "CVL1102",
        next.start,
        next.end - next.start,
        `'{', 'extends' or '=' expected after '${t.value}', but found ${describe(next)}`,
      );
      this.next();
      this.synchronize(false);
      return undefined;
    }
    this.error(
      "CVL1102",
      t.start,
      t.end - t.start,
      `a statement cannot start with ${describe(t)}; expected 'import', an object declaration or an assignment`,
    );
    this.next();
    this.synchronize(false);
    return undefined;
  }

  private parseName(context: string): Name {
    const t = this.token;
    if (t.kind === TokenKind.Identifier) {
      this.next();
      return { kind: "Name", text: t.value, pos: t.start, end: t.end };
    }
    this.expect(TokenKind.Identifier, context);
    return { kind: "Name", text: "", pos: t.start, end: t.start, missing: true };
  }

  private parseImport(): ImportStatement | undefined {
    const start = this.next().start; // 'import'
    if (!this.at(TokenKind.OpenBrace)) {
      this.expect(TokenKind.OpenBrace, "after 'import' (import { url => \"...\" } Name;)");
      this.synchronize(false);
      return undefined;
    }
    const map = this.parseMap();
    const name = this.parseName("after the import map: the name to bind the imported object to");
    if (!this.expect(TokenKind.Semicolon, "at the end of the import")) this.synchronize(false);
    if (name.missing) return undefined;
    return { kind: "Import", map, name, pos: start, end: this.previousEnd };
  }

  private parseObject(missingExtends = false): ObjectDeclaration {
    const name = this.parseName("as the object's name");
    let base: Name | undefined;
    if (this.atKeyword(keywords.extends)) {
      this.next();
      base = this.parseName("after 'extends': the object to extend");
    } else if (missingExtends) {
      base = this.parseName("for the object to extend");
    }
    const members: Member[] = [];
    // A forgotten '{' before members on the next lines: report it and read the body anyway.
    if (this.expect(TokenKind.OpenBrace, `to open the body of ${name.text}`) || this.startsMember()) {
      while (!this.at(TokenKind.CloseBrace) && !this.at(TokenKind.EndOfFile)) {
        const before = this.index;
        const member = this.parseMember();
        if (member) members.push(member);
        if (this.index === before) this.next();
      }
      this.expect(TokenKind.CloseBrace, `to close the body of ${name.text}`);
    } else {
      this.synchronize(false);
    }
    return { kind: "Object", name, base, members, pos: name.pos, end: this.previousEnd };
  }

  private parseMember(): Member | undefined {
    const t = this.token;
    if (t.kind === TokenKind.Identifier) {
      if (t.value === keywords.var) return this.parseVar();
      const next = this.peek();
      if (next.kind === TokenKind.Identifier) return this.parseComponent();
      if (next.kind === TokenKind.Equals || next.kind === TokenKind.Dot) return this.parseAssignment();
      this.error(
        "CVL1106",
        next.start,
        next.end - next.start,
        `after '${t.value}' expected a component name (Type name;) or '=' (name = value;), but found ${describe(next)}`,
      );
    } else {
      this.error(
        "CVL1106",
        t.start,
        t.end - t.start,
        `${describe(t)} cannot start a member; expected 'var', a component declaration or an assignment`,
      );
    }
    this.next();
    this.synchronize(true);
    return undefined;
  }

  private parseNameList(context: string): Name[] {
    const names = [this.parseName(context)];
    while (this.at(TokenKind.Comma)) {
      this.next();
      names.push(this.parseName(`${context} after ','`));
    }
    return names.filter((n) => !n.missing);
  }

  private parseVar(): VarDeclaration | undefined {
    const start = this.next().start; // 'var'
    const attributes: StringLiteral[] = [];
    while (this.at(TokenKind.String)) {
      const t = this.next();
      attributes.push({ kind: "String", value: t.value, pos: t.start, end: t.end });
    }
    const names = this.parseNameList("for the parameter");
    if (!this.expect(TokenKind.Semicolon, "at the end of the var declaration")) this.synchronize(true);
    if (names.length === 0) return undefined;
    return {
      kind: "Var",
      attributes: attributes.slice(),
      names: names.slice(),
      pos: start,
      end: this.previousEnd,
    };
  }

  private parseComponent(): ComponentDeclaration | undefined {
    const type = this.parseName("for the component's type");
    const names = this.parseNameList("for the component");
    if (!this.expect(TokenKind.Semicolon, "at the end of the component declaration")) this.synchronize(true);
    return { kind: "Component", type, names, pos: type.pos, end: this.previousEnd };
  }

  private parseDottedName(context: string): DottedName {
    const parts = [this.parseName(context)];
    while (this.at(TokenKind.Dot)) {
      this.next();
      parts.push(this.parseName("after '.'"));
    }
    // slice(): an array grown by push keeps spare room; a tree of 100,000 names should not.
    return { kind: "DottedName", parts: parts.slice(), pos: parts[0]!.pos, end: this.previousEnd };
  }

  private parseAssignment(): Assignment | undefined {
    const target = this.parseDottedName("for the parameter to assign");
    if (!this.expect(TokenKind.Equals, `after '${target.parts.map((p) => p.text).join(".")}'`)) {
      this.synchronize(true);
      return undefined;
    }
    const values: Rhs[] = [];
    const first = this.parseRhs();
    if (first) values.push(first);
    while (this.at(TokenKind.Comma)) {
      this.next();
      const value = this.parseRhs();
      if (value) values.push(value);
    }
    const ok = this.expect(TokenKind.Semicolon, "at the end of the assignment");
    if (!ok) this.synchronize(true);
    if (values.length === 0 || target.parts.some((p) => p.missing)) return undefined;
    return { kind: "Assignment", target, values: values.slice(), pos: target.pos, end: this.previousEnd };
  }

  private parseRhs(): Rhs | undefined {
    const t = this.token;
    switch (t.kind) {
      case TokenKind.String:
        this.next();
        return { kind: "String", value: t.value, pos: t.start, end: t.end };
      case TokenKind.Identifier: {
        const name = this.parseDottedName("for a parameter");
        return name.parts.some((p) => p.missing) ? undefined : name;
      }
      case TokenKind.OpenBrace:
        return this.parseMap();
      default:
        this.error(
          "CVL1101",
          t.start,
          t.end - t.start,
          `a value expected (a "string", a parameter name or a { map }), but found ${describe(t)}`,
        );
        return undefined;
    }
  }

  private parseMap(): MapLiteral {
    const open = this.next(); // '{'
    const empty = this.at(TokenKind.CloseBrace);
    this.mapDepth++;
    const tooDeep = this.mapDepth > limits.mapDepth;
    if (tooDeep && this.mapDepth === limits.mapDepth + 1) {
      this.error("CVL1103", open.start, 1, `maps nest more than ${limits.mapDepth} deep here`);
    }
    if (tooDeep) {
      // Skip the rest of this map without recursing: hostile input can nest maps a million deep.
      let depth = 0;
      while (!this.at(TokenKind.EndOfFile) && !this.at(TokenKind.Semicolon)) {
        if (this.at(TokenKind.OpenBrace)) depth++;
        else if (this.at(TokenKind.CloseBrace)) {
          if (depth === 0) break;
          depth--;
        }
        this.next();
      }
      if (this.at(TokenKind.CloseBrace)) this.next();
      this.mapDepth--;
      return { kind: "Map", pairs: [], pos: open.start, end: this.previousEnd };
    }
    const pairs: Pair[] = [];
    while (!this.at(TokenKind.CloseBrace) && !this.at(TokenKind.EndOfFile)) {
      const before = this.index;
      const pair = this.parsePair();
      if (pair) pairs.push(pair);
      if (this.at(TokenKind.Comma)) {
        this.next();
        continue;
      }
      if (!this.at(TokenKind.CloseBrace)) {
        this.expect(TokenKind.CloseBrace, "to close the map (or ',' before the next pair)");
        // Skip to the end of this map, keeping nested braces balanced.
        let depth = 0;
        while (!this.at(TokenKind.EndOfFile)) {
          if (this.at(TokenKind.OpenBrace)) depth++;
          else if (this.at(TokenKind.CloseBrace)) {
            if (depth === 0) break;
            depth--;
          } else if (this.at(TokenKind.Semicolon) && depth === 0) break;
          this.next();
        }
        break;
      }
      if (this.index === before) this.next();
    }
    const close = this.token;
    if (this.at(TokenKind.CloseBrace)) this.next();
    else if (!this.at(TokenKind.Semicolon)) this.expect(TokenKind.CloseBrace, "to close the map");
    this.mapDepth--;
    if (empty && close.kind === TokenKind.CloseBrace) {
      this.error(
        "CVL1104",
        open.start,
        close.end - open.start,
        "a map needs at least one pair: { key => value }",
      );
    }
    return { kind: "Map", pairs: tooDeep ? [] : pairs.slice(), pos: open.start, end: this.previousEnd };
  }

  private parsePair(): Pair | undefined {
    const t = this.token;
    let key: Name | StringLiteral;
    if (t.kind === TokenKind.Identifier) {
      this.next();
      key = { kind: "Name", text: t.value, pos: t.start, end: t.end };
    } else if (t.kind === TokenKind.String) {
      this.next();
      key = { kind: "String", value: t.value, pos: t.start, end: t.end };
    } else {
      this.error(
        "CVL1101",
        t.start,
        t.end - t.start,
        `a map key expected (a name or a "string"), but found ${describe(t)}`,
      );
      return undefined;
    }
    if (!this.expect(TokenKind.Arrow, "after the map key")) return undefined;
    const value = this.parseRhs();
    if (!value) return undefined;
    return { kind: "Pair", key, value, pos: key.pos, end: this.previousEnd };
  }
}
