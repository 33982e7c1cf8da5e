/**
 * The instance tree: the root object and, recursively, one instance per declared component (interfaces
 * included). Late binding works on instances: each parameter slot of each instance learns which assignment
 * wins it before any value is computed.
 *
 * An instance keeps its parameters and components in arrays indexed by slot (VarInfo.slot,
 * ComponentInfo.slot), not in maps or an object per parameter: a VAN of thousands of components has
 * hundreds of thousands of parameters, and the collector's work grows with the number of objects.
 */

import type { Name } from "./ast.js";
import type { Binder, ClassInfo, ComponentInfo, ObjectSymbol } from "./binder.js";
import type { Location } from "./diagnostics.js";
import { limits } from "./limits.js";
import type { Module } from "./loader.js";
import type { ResolvedAssignment } from "./resolved.js";
import type { Value } from "./values.js";

/** Evaluation state of a parameter. */
export enum SlotState {
  NotComputed = 0,
  /** Being computed: a reference to it now is a cycle. */
  Computing = 1,
  Done = 2,
}

/** Where an instance was declared: the component declaration, or the root object's name. */
export interface DeclarationSite {
  readonly module: Module;
  readonly node: Name;
}

/** The location of an instance's declaration, for diagnostics. */
export function declaredAt(instance: Instance): Location {
  const { module, node } = instance.site;
  return { file: module.source, start: node.pos, length: Math.max(1, node.end - node.pos) };
}

export interface Instance {
  /** The name it was declared with; the root's is its object's name. */
  readonly name: string;
  /** Where it was declared (see declaredAt). */
  readonly site: DeclarationSite;
  /** Dotted path from the root: "" for the root, "g.f" for f inside g. */
  readonly path: string;
  readonly depth: number;
  readonly cls: ClassInfo;
  readonly parent: Instance | undefined;
  /** Component instances by ComponentInfo.slot (none for a component whose type is unknown). */
  readonly children: Array<Instance | undefined>;
  /** By VarInfo.slot: the assignment that wins the parameter (late binding), if any (see scopeOf). */
  readonly winners: Array<ResolvedAssignment | undefined>;
  /** By VarInfo.slot: how far its value is computed. */
  readonly states: SlotState[];
  /** By VarInfo.slot: the parameter's value once computed (undefined when it has none). */
  readonly values: Array<Value | undefined>;
}

export function paramPath(instance: Instance, param: string): string {
  return instance.path === "" ? param : `${instance.path}.${param}`;
}

/**
 * Builds the tree breadth-first (outer instances before inner ones, which late binding relies on).
 * Returns undefined when the tree would exceed the instance limit.
 */
export function buildInstances(
  binder: Binder,
  root: ObjectSymbol,
): { all: Instance[]; overflow: false | "instances" | "depth" } {
  // Refuse an exponential composition, or one nested absurdly deep, before spending time and memory on it.
  const inProgress = new Set<ObjectSymbol>();
  const count = countInstances(binder, root, new Map(), inProgress);
  if (count < 0) return { all: [], overflow: "depth" };
  if (count > limits.instances) return { all: [], overflow: "instances" };
  const rootInstance = makeInstance(binder.classOf(root), root.name, "", 0, undefined, {
    module: root.module,
    node: root.declaration.name,
  });
  const all: Instance[] = [rootInstance];
  for (let i = 0; i < all.length; i++) {
    const parent = all[i]!;
    for (const component of parent.cls.components.values()) {
      if (!component.type) continue;
      if (containsSelf(parent, component.type)) continue; // reported by the rules check
      if (all.length >= limits.instances) return { all, overflow: "instances" };
      const path = parent.path === "" ? component.name : `${parent.path}.${component.name}`;
      const child = makeInstance(
        binder.classOf(component.type),
        component.name,
        path,
        parent.depth + 1,
        parent,
        component,
      );
      parent.children[component.slot] = child;
      all.push(child);
    }
  }
  return { all, overflow: false };
}

/**
 * How many instances an object expands to (at most limit + 1), skipping self-containment as the build
 * does; -1 when components nest deeper than the nesting limit (inProgress is the path of types).
 */
function countInstances(
  binder: Binder,
  symbol: ObjectSymbol,
  memo: Map<ObjectSymbol, number>,
  inProgress: Set<ObjectSymbol>,
): number {
  const known = memo.get(symbol);
  if (known !== undefined) return known;
  if (inProgress.size >= limits.nesting) return -1;
  inProgress.add(symbol);
  let count = 1;
  for (const component of binder.classOf(symbol).components.values()) {
    if (!component.type || inProgress.has(component.type)) continue;
    const inner = countInstances(binder, component.type, memo, inProgress);
    if (inner < 0) return -1;
    count = Math.min(limits.instances + 1, count + inner);
  }
  inProgress.delete(symbol);
  memo.set(symbol, count);
  return count;
}

function containsSelf(instance: Instance, type: ObjectSymbol): boolean {
  for (let i: Instance | undefined = instance; i; i = i.parent) if (i.cls.symbol === type) return true;
  return false;
}

const noChildren: Array<Instance | undefined> = [];

function makeInstance(
  cls: ClassInfo,
  name: string,
  path: string,
  depth: number,
  parent: Instance | undefined,
  site: DeclarationSite,
): Instance {
  const params = cls.params.length;
  return {
    name,
    path,
    depth,
    cls,
    parent,
    site,
    // Most instances are interfaces, which have no components: they share one empty array.
    children:
      cls.components.size === 0
        ? noChildren
        : new Array<Instance | undefined>(cls.components.size).fill(undefined),
    winners: new Array<ResolvedAssignment | undefined>(params).fill(undefined),
    states: new Array<SlotState>(params).fill(SlotState.NotComputed),
    values: new Array<Value | undefined>(params).fill(undefined),
  };
}

/**
 * The instance whose object body holds an assignment that `instance` got (late binding): its references
 * resolve relative to that one. The assignment reached `instance` through its path of components, so
 * that instance is as many levels up.
 */
export function scopeOf(instance: Instance, winner: ResolvedAssignment): Instance {
  let scope = instance;
  for (let i = 0; i < winner.through.length; i++) scope = scope.parent!;
  return scope;
}

/** Follows resolved components from an instance (see PathTarget); undefined if one has no instance. */
export function descend(instance: Instance, through: readonly ComponentInfo[]): Instance | undefined {
  let current: Instance | undefined = instance;
  for (let i = 0; i < through.length && current; i++) current = current.children[through[i]!.slot];
  return current;
}

/** Follows component names from an instance; undefined if a name is not a child. */
export function descendNames(instance: Instance, names: readonly string[]): Instance | undefined {
  let current: Instance | undefined = instance;
  for (let i = 0; i < names.length && current; i++) {
    const component = current.cls.components.get(names[i]!);
    current = component && current.children[component.slot];
  }
  return current;
}

/** The assignment that wins a parameter of an instance, if any. */
export function winnerOf(instance: Instance, param: string): ResolvedAssignment | undefined {
  const variable = instance.cls.vars.get(param);
  return variable && instance.winners[variable.slot];
}
