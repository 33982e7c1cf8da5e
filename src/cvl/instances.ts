/**
 * The instance tree: the root object and, recursively, one instance per declared component (interfaces
 * included). Late binding works on instances: each parameter slot of each instance learns which assignment
 * wins it before any value is computed.
 */

import type { Name } from "./ast.js";
import type { AssignmentInfo, Binder, ClassInfo, ObjectSymbol } from "./binder.js";
import type { Location } from "./diagnostics.js";
import { limits } from "./limits.js";
import type { Module } from "./loader.js";
import type { Value } from "./values.js";

export interface Winner {
  readonly assignment: AssignmentInfo;
  /** The instance whose object body holds the assignment: references resolve relative to it. */
  readonly scope: Instance;
  /** The assignment's value when it is made of constants only (the same in every instance), else null. */
  readonly constant: Value | null;
}

export interface Slot {
  winner: Winner | undefined;
  /** 0 = not computed, 1 = computing (a reference to it now is a cycle), 2 = done. */
  state: 0 | 1 | 2;
  value: Value | undefined;
}

/** Where an instance was declared: the component declaration, or the root object's name. */
export interface DeclarationSite {
  readonly module: Module;
  readonly node: Name;
}

/**
 * The parameter slots of one instance: an array laid out by its class (every instance of a class shares
 * one name-to-index map), which is far cheaper than a map per instance when a VAN has thousands.
 */
export class Slots implements Iterable<[string, Slot]> {
  private readonly items: Slot[];

  constructor(private readonly layout: SlotLayout) {
    this.items = new Array<Slot>(layout.names.length);
    for (let i = 0; i < this.items.length; i++)
      this.items[i] = { winner: undefined, state: 0, value: undefined };
  }

  get(name: string): Slot | undefined {
    const index = this.layout.index.get(name);
    return index === undefined ? undefined : this.items[index];
  }

  has(name: string): boolean {
    return this.layout.index.has(name);
  }

  keys(): readonly string[] {
    return this.layout.names;
  }

  *[Symbol.iterator](): Iterator<[string, Slot]> {
    for (let i = 0; i < this.items.length; i++) yield [this.layout.names[i]!, this.items[i]!];
  }
}

interface SlotLayout {
  readonly names: readonly string[];
  readonly index: ReadonlyMap<string, number>;
}

const layouts = new WeakMap<ClassInfo, SlotLayout>();

function layoutOf(cls: ClassInfo): SlotLayout {
  let layout = layouts.get(cls);
  if (!layout) {
    const names = [...cls.vars.keys()];
    layout = { names, index: new Map(names.map((n, i) => [n, i])) };
    layouts.set(cls, layout);
  }
  return layout;
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
  readonly children: Map<string, Instance>;
  readonly slots: Slots;
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
      parent.children.set(component.name, child);
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

function makeInstance(
  cls: ClassInfo,
  name: string,
  path: string,
  depth: number,
  parent: Instance | undefined,
  site: DeclarationSite,
): Instance {
  return { name, path, depth, cls, parent, site, children: new Map(), slots: new Slots(layoutOf(cls)) };
}

/** Follows component names from an instance; undefined if a name is not a child. */
export function descend(instance: Instance, names: readonly string[]): Instance | undefined {
  let current: Instance | undefined = instance;
  for (const n of names) {
    current = current.children.get(n);
    if (!current) return undefined;
  }
  return current;
}
