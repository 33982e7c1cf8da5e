/** The tokens of CVL. Keywords are scanned as identifiers and recognised by the parser by their text. */
export enum TokenKind {
  EndOfFile = "end of file",
  Identifier = "name",
  String = "string",
  OpenBrace = "'{'",
  CloseBrace = "'}'",
  Comma = "','",
  Semicolon = "';'",
  Equals = "'='",
  Arrow = "'=>'",
  Dot = "'.'",
  /** A comment, kept only when the scanner is asked to (for the formatter). */
  LineComment = "line comment",
  BlockComment = "block comment",
  /** Input that forms no token; the scanner has reported it. */
  Invalid = "invalid input",
}

export interface Token {
  readonly kind: TokenKind;
  /** Offset of the first character. */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
  /** Identifier text, or a string's decoded value (without quotes and escapes). */
  readonly value: string;
  /** How many line breaks precede this token (the formatter keeps blank lines and comment placement). */
  readonly newlinesBefore: number;
}

export const keywords = { import: "import", extends: "extends", var: "var" } as const;
