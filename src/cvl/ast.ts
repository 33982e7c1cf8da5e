/**
 * The CVL syntax tree. Every node has its source span (pos, end: offsets into the file's text). Nodes
 * the parser had to invent while recovering from an error are `missing` and carry an empty text; later
 * phases skip them silently because the parser already reported why.
 */
import type { SourceFile } from "./diagnostics.js";

interface NodeBase {
  readonly pos: number;
  readonly end: number;
}

/** An Item: [A-Za-z][A-Za-z0-9_]* */
export interface Name extends NodeBase {
  readonly kind: "Name";
  readonly text: string;
  readonly missing?: true;
}

/**
 * Ident ::= Item ("." Item)* : a parameter, a component, or a path through components. It holds the
 * names as strings, not a Name node each: a large file has hundreds of thousands of them, and only a
 * diagnostic needs a name's position (namePart makes its node then).
 */
export interface DottedName extends NodeBase {
  readonly kind: "DottedName";
  readonly names: readonly string[];
  /**
   * Where each name starts, kept only when some name does not directly follow the '.' before it (a
   * space or a comment in between). Usually undefined: then each name starts just after the '.'
   * that follows the previous one.
   */
  readonly starts: readonly number[] | undefined;
}

export interface StringLiteral extends NodeBase {
  readonly kind: "String";
  /** The decoded value, without quotes or escapes. */
  readonly value: string;
}

export interface MapLiteral extends NodeBase {
  readonly kind: "Map";
  readonly pairs: readonly Pair[];
}

export interface Pair extends NodeBase {
  readonly kind: "Pair";
  readonly key: Name | StringLiteral;
  readonly value: Rhs;
}

export type Rhs = StringLiteral | DottedName | MapLiteral;

/** import { url => "...", ... } Name; */
export interface ImportStatement extends NodeBase {
  readonly kind: "Import";
  readonly map: MapLiteral;
  readonly name: Name;
}

/** target = rhs, rhs, ...; (at top level only `CVL = "0.8";` is allowed) */
export interface Assignment extends NodeBase {
  readonly kind: "Assignment";
  readonly target: DottedName;
  readonly values: readonly Rhs[];
}

/** var "attr"... name, name; */
export interface VarDeclaration extends NodeBase {
  readonly kind: "Var";
  readonly attributes: readonly StringLiteral[];
  readonly names: readonly Name[];
}

/** Type name, name; */
export interface ComponentDeclaration extends NodeBase {
  readonly kind: "Component";
  readonly type: Name;
  readonly names: readonly Name[];
}

export type Member = VarDeclaration | ComponentDeclaration | Assignment;

/** Name [extends Base] { members } */
export interface ObjectDeclaration extends NodeBase {
  readonly kind: "Object";
  readonly name: Name;
  readonly base: Name | undefined;
  readonly members: readonly Member[];
}

export type Statement = ImportStatement | Assignment | ObjectDeclaration;

export interface CvlFile {
  readonly kind: "File";
  readonly source: SourceFile;
  readonly statements: readonly Statement[];
}

/** The dotted text of a name ("d.ethernet0.ip"). */
export function dottedText(name: DottedName): string {
  return name.names.join(".");
}

/** The i-th name of a dotted name as a Name node, with its position (for a diagnostic that points at it). */
export function namePart(name: DottedName, i: number): Name {
  let pos = name.pos;
  if (name.starts) pos = name.starts[i]!;
  else for (let j = 0; j < i; j++) pos += name.names[j]!.length + 1;
  return { kind: "Name", text: name.names[i]!, pos, end: pos + name.names[i]!.length };
}
