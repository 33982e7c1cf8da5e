/**
 * The CVL parser: recursive descent over the grammar of docs/cvl.md, after the TypeScript compiler's:
 * it never throws and never loops. On an unexpected token it reports a coded diagnostic and skips to a
 * point where parsing can resume (the next ';', the end of the enclosing object, or the start of the
 * next statement), so one run reports every independent error.
 */
import {
  type Assignment,
  type ComponentDeclaration,
  type CvlFile,
  type DottedName,
  dottedText,
  type ImportStatement,
  type MapLiteral,
  type Member,
  type Name,
  type ObjectDeclaration,
  type Pair,
  type Rhs,
  type Statement,
  type StringLiteral,
  type VarDeclaration,
} from "./ast.js";
import type { DiagnosticCode } from "./codes.js";
import type { DiagnosticBag, SourceFile } from "./diagnostics.js";
import { limits } from "./limits.js";
import { Scanner } from "./scanner.js";
import { keywords, TokenKind } from "./tokens.js";

export function parse(source: SourceFile, diagnostics: DiagnosticBag): CvlFile {
  return new Parser(source, diagnostics).parseFile();
}

/** How a token is named in messages. */
function describe(kind: TokenKind, value: string): string {
  switch (kind) {
    case TokenKind.EndOfFile:
      return "the end of the file";
    case TokenKind.Identifier:
      return `'${value}'`;
    case TokenKind.String:
      return "a string";
    case TokenKind.Invalid:
      return `'${value}'`;
    default:
      return kind;
  }
}

/**
 * The names of a dotted name. Dotted names repeat (c1.p1 in every group of a large file), so all that
 * spell the same names share one array: a tree of the lists seen so far, walked one name at a time
 * while the dotted name is read, finds it without building anything.
 */
interface NameList {
  readonly names: readonly string[];
  /** The lists that continue this one with one more name, by that name. */
  longer: Map<string, NameList> | undefined;
}

/**
 * The parser reads the current token from the scanner's fields (scanner.token, tokenStart, tokenEnd,
 * tokenValue, newlinesBefore): no object per token. Where the grammar needs to see further, lookAhead
 * scans ahead and puts the scanner back.
 */
class Parser {
  private readonly scanner: Scanner;
  /** Offset of the last reported error: a second error at the same place is a cascade, not news. */
  private lastErrorAt = -1;
  /**
   * The current token comes right after input the scanner reported as broken (garbage, an unclosed
   * string or comment): a parse error there would be a cascade of the same mistake, so none is reported.
   */
  private followsScanError = false;
  /** The next valid token will follow input the scanner reported (see nextToken). */
  private markNext = false;
  /** How many tokens were consumed: the loops use it to make sure they always make progress. */
  private index = 0;
  /** End offset of the last consumed token. */
  private previousEnd = 0;
  private mapDepth = 0;
  /** The name lists of dotted names, by first name (see NameList). */
  private readonly nameLists = new Map<string, NameList>();
  /** The token lookAhead found. */
  private aheadValue = "";
  private aheadStart = 0;
  private aheadEnd = 0;

  constructor(
    private readonly source: SourceFile,
    private readonly diagnostics: DiagnosticBag,
  ) {
    this.scanner = new Scanner(source, diagnostics);
    this.nextToken();
  }

  // ---- token helpers ----

  /** Scans the next valid token: Invalid ones (input that forms no token) were reported by the scanner. */
  private nextToken(): void {
    const scanner = this.scanner;
    for (;;) {
      if (scanner.scan() === TokenKind.Invalid) {
        this.markNext = true;
        continue;
      }
      this.followsScanError = this.markNext;
      this.markNext = scanner.breaksNext;
      return;
    }
  }

  /**
   * The kind of the valid token `offset` tokens ahead (the end of the file if there are fewer); its
   * value and span are left in aheadValue, aheadStart and aheadEnd. Consumes nothing.
   */
  private lookAhead(offset = 1): TokenKind {
    const scanner = this.scanner;
    scanner.lookAhead();
    for (let i = 0; i < offset && scanner.token !== TokenKind.EndOfFile; i++) {
      let kind: TokenKind;
      do kind = scanner.scan();
      while (kind === TokenKind.Invalid);
    }
    const kind = scanner.token;
    this.aheadValue = scanner.tokenValue;
    this.aheadStart = scanner.tokenStart;
    this.aheadEnd = scanner.tokenEnd;
    scanner.restore();
    return kind;
  }

  /** Consumes the current token (the end of the file is never consumed). */
  private next(): void {
    if (this.scanner.token === TokenKind.EndOfFile) return;
    this.index++;
    this.previousEnd = this.scanner.tokenEnd;
    this.nextToken();
  }

  private at(kind: TokenKind): boolean {
    return this.scanner.token === kind;
  }

  private atKeyword(word: string): boolean {
    return this.scanner.token === TokenKind.Identifier && this.scanner.tokenValue === word;
  }

  private error(code: DiagnosticCode, start: number, length: number, message: string): void {
    if (start === this.lastErrorAt || this.followsScanError) return;
    this.lastErrorAt = start;
    this.diagnostics.add(code, { file: this.source, start, length: Math.max(1, length) }, message);
  }

  /** Reports an error at the current token. */
  private errorAtToken(code: DiagnosticCode, message: string): void {
    const { tokenStart, tokenEnd } = this.scanner;
    this.error(code, tokenStart, tokenEnd - tokenStart, message);
  }

  /** Consumes a token of the kind, or reports it missing (at the end of the previous token). */
  private expect(kind: TokenKind, context: string): boolean {
    if (this.at(kind)) {
      this.next();
      return true;
    }
    const { token, tokenStart, tokenEnd, tokenValue, newlinesBefore } = this.scanner;
    // A missing ';' or '}' is best shown right after what came before it, as compilers do.
    const onNewLine = newlinesBefore > 0 || token === TokenKind.EndOfFile;
    const where = onNewLine && this.index > 0 ? this.previousEnd : tokenStart;
    const length = onNewLine ? 1 : tokenEnd - tokenStart;
    this.error(
      "CVL1101",
      where,
      length,
      `${kind} expected ${context}, but found ${describe(token, tokenValue)}`,
    );
    return false;
  }

  /**
   * Skips tokens until a point where a statement can start: after a ';' at this nesting level, before a
   * '}' that closes the enclosing block (when inBlock), or before a top-level statement start.
   */
  private synchronize(inBlock: boolean): void {
    let depth = 0;
    while (!this.at(TokenKind.EndOfFile)) {
      const kind = this.scanner.token;
      if (kind === TokenKind.OpenBrace) depth++;
      else if (kind === TokenKind.CloseBrace) {
        if (depth === 0) {
          if (inBlock) return;
          this.next();
          return;
        }
        depth--;
      } else if (kind === TokenKind.Semicolon && depth === 0) {
        this.next();
        return;
      } else if (depth === 0 && this.scanner.newlinesBefore > 0 && this.startsStatement(inBlock)) {
        return;
      }
      this.next();
    }
  }

  /** Whether the current token plausibly starts a statement (used only after a line break). */
  private startsStatement(inBlock: boolean): boolean {
    if (this.scanner.token !== TokenKind.Identifier) return false;
    const value = this.scanner.tokenValue;
    const next = this.lookAhead();
    const nextValue = this.aheadValue;
    if (inBlock) {
      return (
        value === keywords.var ||
        next === TokenKind.Identifier ||
        next === TokenKind.Equals ||
        next === TokenKind.Dot
      );
    }
    return (
      value === keywords.import ||
      next === TokenKind.OpenBrace ||
      (next === TokenKind.Identifier && nextValue === keywords.extends) ||
      (next === TokenKind.Identifier && this.lookAhead(2) === TokenKind.OpenBrace) ||
      next === TokenKind.Equals
    );
  }

  /** Whether the current token starts an object member (to recover from a forgotten '{'). */
  private startsMember(): boolean {
    if (this.scanner.token !== TokenKind.Identifier) return false;
    const value = this.scanner.tokenValue;
    const next = this.lookAhead();
    const nextValue = this.aheadValue;
    return (
      value === keywords.var ||
      next === TokenKind.Equals ||
      next === TokenKind.Dot ||
      (next === TokenKind.Identifier &&
        nextValue !== keywords.extends &&
        this.lookAhead(2) !== TokenKind.OpenBrace)
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
    const { token, tokenValue: value } = this.scanner;
    if (token === TokenKind.Identifier) {
      if (value === keywords.import) return this.parseImport();
      const next = this.lookAhead();
      const { aheadValue: nextValue, aheadStart: nextStart, aheadEnd: nextEnd } = this;
      if (next === TokenKind.OpenBrace || (next === TokenKind.Identifier && nextValue === keywords.extends)) {
        return this.parseObject();
      }
      if (next === TokenKind.Equals || next === TokenKind.Dot) return this.parseAssignment();
      if (next === TokenKind.Identifier && this.lookAhead(2) === TokenKind.OpenBrace) {
        // "Db ContainerAppliance {": report the missing 'extends' and read the object anyway.
        this.error(
          "CVL1102",
          nextStart,
          nextEnd - nextStart,
          `'extends' expected between '${value}' and '${nextValue}'`,
        );
        return this.parseObject(true);
      }
      this.error(
        "CVL1102",
        nextStart,
        nextEnd - nextStart,
        `'{', 'extends' or '=' expected after '${value}', but found ${describe(next, nextValue)}`,
      );
      this.next();
      this.synchronize(false);
      return undefined;
    }
    this.errorAtToken(
      "CVL1102",
      `a statement cannot start with ${describe(token, value)}; expected 'import', an object declaration or an assignment`,
    );
    this.next();
    this.synchronize(false);
    return undefined;
  }

  /** An identifier's text, consumed; or "" after reporting that it is missing. */
  private parseIdentifier(context: string): string {
    if (this.scanner.token === TokenKind.Identifier) {
      const text = this.scanner.tokenValue;
      this.next();
      return text;
    }
    this.expect(TokenKind.Identifier, context);
    return "";
  }

  private parseName(context: string): Name {
    const { tokenStart: pos, tokenEnd: end } = this.scanner;
    const text = this.parseIdentifier(context);
    if (text === "") return { kind: "Name", text, pos, end: pos, missing: true };
    return { kind: "Name", text, pos, end };
  }

  private parseImport(): ImportStatement | undefined {
    const start = this.scanner.tokenStart;
    this.next(); // 'import'
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
    const { token, tokenValue: value } = this.scanner;
    if (token === TokenKind.Identifier) {
      if (value === keywords.var) return this.parseVar();
      const next = this.lookAhead();
      if (next === TokenKind.Identifier) return this.parseComponent();
      if (next === TokenKind.Equals || next === TokenKind.Dot) return this.parseAssignment();
      this.error(
        "CVL1106",
        this.aheadStart,
        this.aheadEnd - this.aheadStart,
        `after '${value}' expected a component name (Type name;) or '=' (name = value;), but found ${describe(next, this.aheadValue)}`,
      );
    } else {
      this.errorAtToken(
        "CVL1106",
        `${describe(token, value)} cannot start a member; expected 'var', a component declaration or an assignment`,
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
    const start = this.scanner.tokenStart;
    this.next(); // 'var'
    const attributes: StringLiteral[] = [];
    while (this.at(TokenKind.String)) attributes.push(this.parseString());
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

  /** The current token, a string, as a node. */
  private parseString(): StringLiteral {
    const { tokenValue: value, tokenStart: pos, tokenEnd: end } = this.scanner;
    this.next();
    return { kind: "String", value, pos, end };
  }

  private parseDottedName(context: string): DottedName {
    const pos = this.scanner.tokenStart;
    let list = this.nameList(undefined, this.parseIdentifier(context));
    let starts: number[] | undefined;
    // Where the next name starts when nothing separates it from its '.': then its start need not be kept.
    let compactStart = pos + list.names[0]!.length + 1;
    while (this.at(TokenKind.Dot)) {
      this.next();
      const start = this.scanner.tokenStart;
      if (start !== compactStart && starts === undefined) starts = compactStarts(pos, list.names);
      const name = this.parseIdentifier("after '.'");
      list = this.nameList(list, name);
      starts?.push(start);
      compactStart = start + name.length + 1;
    }
    return { kind: "DottedName", names: list.names, starts, pos, end: this.previousEnd };
  }

  /** The shared list of the names in `list` followed by `name` (just `name` without a list). */
  private nameList(list: NameList | undefined, name: string): NameList {
    let lists = this.nameLists;
    if (list) {
      list.longer ??= new Map();
      lists = list.longer;
    }
    let found = lists.get(name);
    if (!found) {
      found = { names: list ? [...list.names, name] : [name], longer: undefined };
      lists.set(name, found);
    }
    return found;
  }

  private parseAssignment(): Assignment | undefined {
    const target = this.parseDottedName("for the parameter to assign");
    if (!this.at(TokenKind.Equals)) {
      this.expect(TokenKind.Equals, `after '${dottedText(target)}'`);
      this.synchronize(true);
      return undefined;
    }
    this.next();
    const first = this.parseRhs();
    // Most assignments have one value: then an array of exactly that, not one grown by push (which
    // keeps spare room, and is copied by slice() below).
    let values: Rhs[] = first ? [first] : [];
    if (this.at(TokenKind.Comma)) {
      while (this.at(TokenKind.Comma)) {
        this.next();
        const value = this.parseRhs();
        if (value) values.push(value);
      }
      values = values.slice();
    }
    const ok = this.expect(TokenKind.Semicolon, "at the end of the assignment");
    if (!ok) this.synchronize(true);
    if (values.length === 0 || target.names.includes("")) return undefined;
    return { kind: "Assignment", target, values, pos: target.pos, end: this.previousEnd };
  }

  private parseRhs(): Rhs | undefined {
    const { token, tokenValue } = this.scanner;
    switch (token) {
      case TokenKind.String:
        return this.parseString();
      case TokenKind.Identifier: {
        const name = this.parseDottedName("for a parameter");
        return name.names.includes("") ? undefined : name;
      }
      case TokenKind.OpenBrace:
        return this.parseMap();
      default:
        this.errorAtToken(
          "CVL1101",
          `a value expected (a "string", a parameter name or a { map }), but found ${describe(token, tokenValue)}`,
        );
        return undefined;
    }
  }

  private parseMap(): MapLiteral {
    const openStart = this.scanner.tokenStart;
    this.next(); // '{'
    const empty = this.at(TokenKind.CloseBrace);
    this.mapDepth++;
    const tooDeep = this.mapDepth > limits.mapDepth;
    if (tooDeep && this.mapDepth === limits.mapDepth + 1) {
      this.error("CVL1103", openStart, 1, `maps nest more than ${limits.mapDepth} deep here`);
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
      return { kind: "Map", pairs: [], pos: openStart, end: this.previousEnd };
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
    const closed = this.at(TokenKind.CloseBrace);
    const closeEnd = this.scanner.tokenEnd;
    if (closed) this.next();
    else if (!this.at(TokenKind.Semicolon)) this.expect(TokenKind.CloseBrace, "to close the map");
    this.mapDepth--;
    if (empty && closed) {
      this.error(
        "CVL1104",
        openStart,
        closeEnd - openStart,
        "a map needs at least one pair: { key => value }",
      );
    }
    return { kind: "Map", pairs: tooDeep ? [] : pairs.slice(), pos: openStart, end: this.previousEnd };
  }

  private parsePair(): Pair | undefined {
    const { token, tokenValue } = this.scanner;
    let key: Name | StringLiteral;
    if (token === TokenKind.Identifier) key = this.parseName("as the map key");
    else if (token === TokenKind.String) key = this.parseString();
    else {
      this.errorAtToken(
        "CVL1101",
        `a map key expected (a name or a "string"), but found ${describe(token, tokenValue)}`,
      );
      return undefined;
    }
    if (!this.expect(TokenKind.Arrow, "after the map key")) return undefined;
    const value = this.parseRhs();
    if (!value) return undefined;
    return { kind: "Pair", key, value, pos: key.pos, end: this.previousEnd };
  }
}

/** The starts of names that each directly follow the '.' after the previous one. */
function compactStarts(pos: number, names: readonly string[]): number[] {
  const starts: number[] = [];
  for (const name of names) {
    starts.push(pos);
    pos += name.length + 1;
  }
  return starts;
}
