/**
 * Assignments resolved once per class. Every instance of a class applies the same assignments with the
 * same targets and the same references, so the names in them are looked up once, when the class is first
 * needed, and evaluating an assignment for each of thousands of instances does no name lookups.
 */
import type { DottedName, Rhs } from "./ast.js";
import type { AssignmentInfo, ComponentInfo, VarInfo } from "./binder.js";
import { type CvlString, encodeMap, type Value } from "./values.js";

/** One value of an assignment's right-hand side, its names resolved. */
export type Operand =
  | { readonly kind: "text"; readonly value: Value }
  | {
      readonly kind: "reference";
      /** The components from the assigning instance to the one holding the parameter, outermost first. */
      readonly through: readonly ComponentInfo[];
      readonly variable: VarInfo;
      /** The reference as written (where a reference cycle is reported). */
      readonly node: DottedName;
    }
  | { readonly kind: "map"; readonly keys: readonly string[]; readonly values: readonly Operand[] }
  /** A name that is no parameter (a component, or nothing): the check reported it; it has no value. */
  | { readonly kind: "nothing" };

export const nothing: Operand = { kind: "nothing" };

export interface ResolvedAssignment {
  readonly assignment: AssignmentInfo;
  /** The components from the assigning instance to the one holding the target, outermost first. */
  readonly through: readonly ComponentInfo[];
  /** The parameter assigned. */
  readonly variable: VarInfo;
  /** The value when it is made of constants only (the same in every instance, so shared), else null. */
  readonly constant: Value | null;
  /** The right-hand side, one operand per value (used when not constant). */
  readonly operands: readonly Operand[];
}

export function isConstant(rhs: Rhs): boolean {
  if (rhs.kind === "String") return true;
  if (rhs.kind !== "Map") return false;
  for (const pair of rhs.pairs) if (!isConstant(pair.value)) return false;
  return true;
}

/** A constant's string (a map encoded as k=v&k2=v2); only for isConstant values. */
export function constantValue(rhs: Rhs): CvlString {
  if (rhs.kind === "String") return rhs.value;
  if (rhs.kind === "Map") {
    return encodeMap(rhs.pairs.map((p) => [mapKey(p.key), [constantValue(p.value)]] as const));
  }
  throw new Error("constantValue of a reference");
}

export function mapKey(key: { kind: "Name"; text: string } | { kind: "String"; value: string }): string {
  return key.kind === "Name" ? key.text : key.value;
}
