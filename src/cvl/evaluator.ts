/**
 * The evaluator: from bound objects to an evaluated tree of components with parameter values.
 *
 * Late binding (docs/cvl.md): every assignment is first attached to the slot it targets, where the
 * winner is the last in this order: the utility's defaults, the component type's chain (root ancestor
 * first), the enclosing VAN's chain, the VAN enclosing that, outermost last. Only then are values
 * computed, lazily, resolving references relative to the instance whose body holds the assignment.
 */
import { type Assignment, type DottedName, dottedText, type Rhs } from "./ast.js";
import type { AssignmentInfo, Binder, ClassInfo, ObjectSymbol, PathTarget, VarInfo } from "./binder.js";
import type { DiagnosticBag, Location, RelatedInformation } from "./diagnostics.js";
import {
  buildInstances,
  declaredAt,
  descend,
  descendNames,
  type Instance,
  paramPath,
  SlotState,
  scopeOf,
  winnerOf,
} from "./instances.js";
import { limits } from "./limits.js";
import type { Module } from "./loader.js";
import {
  constantValue,
  isConstant,
  mapKey,
  nothing,
  type Operand,
  type ResolvedAssignment,
} from "./resolved.js";
import { type CvlString, display, encodeMap, textLength, type Value } from "./values.js";

const noOperands: readonly Operand[] = [];

/** The dotted path of an instance's parameter, by slot. */
function slotPath(instance: Instance, slot: number): string {
  return paramPath(instance, instance.cls.params[slot]!.name);
}

export type ComponentKind = "van" | "vm" | "container";

export interface EvaluatedComponent {
  /** Dotted path from the root ("" for the root itself). */
  readonly path: string;
  readonly name: string;
  /** The object it is an instance of. */
  readonly type: string;
  readonly kind: ComponentKind;
  /** Parameter values, interface parameters as "ethernet0.ip"; parameters without a value are absent. */
  readonly params: ReadonlyMap<string, Value>;
  /** Names of sensitive parameters (their values are secrets and never appear in params output). */
  readonly sensitive: readonly string[];
  /** Names of parameters whose value waits for the utility's allocation. */
  readonly pending: readonly string[];
  /** Required parameters with no value at all ("ethernet0.ip" for an interface's). */
  readonly missing: ReadonlyArray<{
    readonly param: string;
    readonly variable: VarInfo;
    readonly from?: Location;
  }>;
  readonly interfaces: readonly string[];
  readonly requires: readonly string[];
  readonly provides: readonly string[];
  readonly instance: Instance;
}

/** Where a component's parameter got its value: the file (and repository version) of the assignment. */
export interface ValueSource {
  /** The file's location: an absolute path, or a repository URL. */
  readonly location: string;
  readonly origin: import("./resolver.js").ImportOrigin | undefined;
}

/**
 * The source of a parameter's winning assignment. Paths in values (image, vm) are relative to that
 * file, or name files of that repository version.
 */
export function valueSource(component: EvaluatedComponent, param: string): ValueSource | undefined {
  const winner = winnerOf(component.instance, param);
  if (!winner) return undefined;
  return { location: winner.assignment.module.location, origin: winner.assignment.module.origin };
}

export class Evaluator {
  constructor(private readonly binder: Binder) {}

  // ---------- static checks, once per declaration ----------

  /** Checks every object of a module, whether or not it will be instantiated. */
  checkModule(module: Module): void {
    for (const statement of module.ast.statements) {
      if (statement.kind === "Assignment") this.checkTopLevelAssignment(module, statement);
    }
    for (const symbol of this.binder.symbolsByModule.get(module) ?? []) {
      const cls = this.binder.classOf(symbol);
      this.checkComponents(cls, symbol);
      const own: Array<ResolvedAssignment | undefined> = [];
      for (const info of cls.assignments) {
        if (info.owner !== symbol) continue;
        const resolved = this.resolveAssignment(cls, info, true);
        own.push(resolved && isComplete(resolved.operands) ? resolved : undefined);
      }
      this.checkedOwn.set(cls, own);
    }
  }

  private checkTopLevelAssignment(module: Module, statement: Assignment): void {
    const target = dottedText(statement.target);
    if (target !== "CVL") {
      this.binder.report(
        "CVL1215",
        this.binder.at(module, statement.target),
        `'${target}' is assigned outside any object; only CVL = "0.8"; may stand at the top of a file (move the assignment into an object)`,
      );
      return;
    }
    const first = statement.values[0];
    const value = statement.values.length === 1 && first?.kind === "String" ? first.value : undefined;
    if (value !== "0.8") {
      this.binder.report(
        "CVL1214",
        this.binder.at(module, statement.values[0] ?? statement),
        `this is CVL 0.8 (with Collective's extensions); CVL = ${value === undefined ? "that value" : `"${value}"`} is not supported: write CVL = "0.8";`,
      );
    }
  }

  private checkComponents(cls: ClassInfo, owner: ObjectSymbol): void {
    for (const component of cls.components.values()) {
      if (component.owner !== owner || !component.type) continue;
      const childCategory = this.binder.classOf(component.type).category;
      const at = this.binder.at(component.module, component.node);
      const parent = cls.category;
      if (
        childCategory === "interface" &&
        parent !== "vm" &&
        parent !== "container" &&
        parent !== "invalid"
      ) {
        this.binder.report(
          "CVL1210",
          at,
          `${owner.name} is ${article(parent)}, so it cannot have the Interface '${component.name}'; only VM and container appliances have interfaces`,
        );
      } else if (
        (childCategory === "vm" || childCategory === "container" || childCategory === "van") &&
        parent !== "van" &&
        parent !== "invalid"
      ) {
        this.binder.report(
          "CVL1211",
          at,
          `${owner.name} is ${article(parent)}, so it cannot contain the ${kindWord(childCategory)} '${component.name}'; only a VAN (VANAppliance) contains appliances`,
        );
      } else if (childCategory === "appliance") {
        this.binder.report(
          "CVL1212",
          at,
          `'${component.type.name}' extends Appliance directly, so it is neither a VM, a container nor a VAN and cannot run; extend VMAppliance, ContainerAppliance or VANAppliance`,
        );
      }
      if (childCategory === "van" && this.vanContains(component.type, owner, new Set())) {
        this.binder.report(
          "CVL1213",
          at,
          `'${component.name}' is of type ${component.type.name}, which contains ${owner.name} again: a VAN cannot contain itself`,
        );
      }
    }
  }

  /** Whether type contains target at some depth (iterative, and only as deep as the nesting limit). */
  private vanContains(type: ObjectSymbol, target: ObjectSymbol, seen: Set<ObjectSymbol>): boolean {
    const stack: Array<[ObjectSymbol, number]> = [[type, 0]];
    for (let next = stack.pop(); next; next = stack.pop()) {
      const [current, depth] = next;
      if (current === target) return true;
      if (seen.has(current) || depth >= limits.nesting) continue;
      seen.add(current);
      for (const c of this.binder.classOf(current).components.values())
        if (c.type) stack.push([c.type, depth + 1]);
    }
    return false;
  }

  /**
   * Resolves an assignment against a class (see resolved.ts). With `check`, reports what is wrong with
   * it as well: names that name nothing, and the rules about components and sensitive values. Returns
   * undefined when its target names no parameter.
   */
  private resolveAssignment(
    cls: ClassInfo,
    info: AssignmentInfo,
    check: boolean,
  ): ResolvedAssignment | undefined {
    const { node, module } = info;
    const target = this.binder.resolvePath(cls, node.target, module, "assign", check);
    const variable = target?.kind === "param" ? target.variable : undefined;
    if (check) this.checkTarget(target, node, module);
    const constant = node.values.every(isConstant);
    // Constants need no operands: their value is computed here, once for every instance and class.
    let operands = noOperands;
    if (!constant) {
      const resolved: Operand[] = [];
      for (const rhs of node.values)
        resolved.push(this.resolveOperand(cls, rhs, module, check ? variable : null, node.target));
      operands = resolved;
    }
    if (target?.kind !== "param") return undefined;
    return {
      assignment: info,
      through: target.through,
      variable: target.variable,
      constant: constant ? node.values.map(constantValue) : null,
      operands,
    };
  }

  /** The rules about an assignment's target: a parameter, and no secret written in the file. */
  private checkTarget(target: PathTarget | undefined, node: Assignment, module: Module): void {
    if (target?.kind === "component") {
      const params = target.info.type ? [...this.binder.classOf(target.info.type).vars.keys()] : [];
      const example = params.includes("name") ? "name" : params.includes("ip") ? "ip" : params[0];
      this.binder.report(
        "CVL1220",
        this.binder.at(module, node.target),
        `'${dottedText(node.target)}' is a component, not a parameter; assign to one of its parameters${example ? ` (${dottedText(node.target)}.${example} = ...)` : ""}`,
      );
    }
    if (target?.kind !== "param" || !target.variable.sensitive) return;
    for (const value of node.values) {
      if (value.kind !== "String") continue;
      this.binder.report(
        "CVL1407",
        this.binder.at(module, value),
        `'${dottedText(node.target)}' is sensitive, so its value must not be written in a file; leave it unset (the user supplies it when the appliance starts) or assign another sensitive parameter`,
      );
    }
  }

  /**
   * Resolves one value of an assignment. `targetVar` is null when not checking, and undefined when
   * checking an assignment whose target names no parameter.
   */
  private resolveOperand(
    cls: ClassInfo,
    rhs: Rhs,
    module: Module,
    targetVar: VarInfo | undefined | null,
    targetName: DottedName,
  ): Operand {
    if (rhs.kind === "String") return this.textOperand(rhs.value);
    if (rhs.kind === "Map") {
      const keys: string[] = [];
      const values: Operand[] = [];
      for (const pair of rhs.pairs) {
        keys.push(mapKey(pair.key));
        values.push(this.resolveOperand(cls, pair.value, module, targetVar, targetName));
      }
      return { kind: "map", keys, values };
    }
    const ref = this.binder.resolvePath(cls, rhs, module, "reference", targetVar !== null);
    if (targetVar !== null) this.checkReference(ref, rhs, module, targetVar, targetName);
    if (ref?.kind !== "param") return nothing;
    return { kind: "reference", through: ref.through, variable: ref.variable, node: rhs };
  }

  /** The operand of a string literal: one per distinct text ("0", "x y" recur in many assignments). */
  private textOperand(text: string): Operand {
    let operand = this.texts.get(text);
    if (!operand) {
      operand = { kind: "text", value: [text] };
      this.texts.set(text, operand);
    }
    return operand;
  }

  private readonly texts = new Map<string, Operand>();

  /** The rules about a reference: it names a parameter, and no secret leaks into a plain one. */
  private checkReference(
    ref: PathTarget | undefined,
    rhs: DottedName,
    module: Module,
    targetVar: VarInfo | undefined,
    targetName: DottedName,
  ): void {
    if (ref?.kind === "component") {
      this.binder.report(
        "CVL1207",
        this.binder.at(module, rhs),
        `'${dottedText(rhs)}' is a component, not a parameter; to name it, write the string "${dottedText(rhs)}", or use one of its parameters such as ${dottedText(rhs)}.name`,
      );
    } else if (ref?.kind === "param" && ref.variable.sensitive && targetVar && !targetVar.sensitive) {
      this.binder.report(
        "CVL1403",
        this.binder.at(module, rhs),
        `'${dottedText(rhs)}' is sensitive but '${dottedText(targetName)}' is not, so its secret would be shown and stored in plain text; declare '${targetVar.name}' with var "sensitive"`,
      );
    }
  }

  // ---------- evaluation of one root ----------

  evaluate(root: ObjectSymbol): { components: EvaluatedComponent[]; instances: Instance[] } | undefined {
    const rootClass = this.binder.classOf(root);
    if (
      rootClass.category === "interface" ||
      rootClass.category === "appliance" ||
      rootClass.category === "invalid"
    ) {
      this.binder.report(
        "CVL1216",
        this.binder.at(root.module, root.declaration.name),
        `${root.name} is not something that can run (it is ${article(rootClass.category)}); run a VM, container or VAN appliance`,
      );
      return undefined;
    }
    const { all, overflow } = buildInstances(this.binder, root);
    if (overflow) {
      this.binder.report(
        "CVL1218",
        this.binder.at(root.module, root.declaration.name),
        overflow === "depth"
          ? `${root.name} nests components more than ${limits.nesting} deep; a VAN of that depth is refused`
          : `${root.name} expands to more than ${limits.instances} component instances; a VAN of that size is refused`,
      );
      return undefined;
    }
    this.attachAssignments(all);
    for (const instance of all) {
      for (let slot = 0; slot < instance.values.length; slot++) this.valueAt(instance, slot);
    }
    const components: EvaluatedComponent[] = [];
    for (const instance of all) if (isRunnable(instance.cls)) components.push(this.describe(instance));
    this.checkVanInterfaces(components);
    return { components, instances: all };
  }

  /**
   * A class's assignments resolved, in late-binding order (those whose target names no parameter left
   * out). The check's resolutions of the class's own assignments are reused where every name in them
   * resolved; the others, and inherited ones (resolved by the check against the class declaring them),
   * are resolved here against this class.
   */
  private resolvedOf(cls: ClassInfo): readonly ResolvedAssignment[] {
    let list = this.resolvedByClass.get(cls);
    if (!list) {
      list = [];
      const own = this.checkedOwn.get(cls);
      let ownIndex = 0;
      for (const info of cls.assignments) {
        const checked = own && info.owner === cls.symbol ? own[ownIndex++] : undefined;
        const resolved = checked ?? this.resolveAssignment(cls, info, false);
        if (resolved) list.push(resolved);
      }
      this.resolvedByClass.set(cls, list);
    }
    return list;
  }

  /** Late binding: attach each assignment to the slot it targets; outer scopes win over inner ones. */
  private attachAssignments(all: readonly Instance[]): void {
    for (const scope of all) {
      for (const resolved of this.resolvedOf(scope.cls)) {
        const instance = descend(scope, resolved.through);
        if (!instance) continue;
        const slot = resolved.variable.slot;
        // Instances are visited outermost first and assignments in chain and text order, so a later
        // candidate wins unless it comes from a deeper (inner) scope than the current winner.
        const current = instance.winners[slot];
        if (current === undefined || scope.depth <= instance.depth - current.through.length) {
          instance.winners[slot] = resolved;
        }
      }
    }
  }

  /**
   * The value of a parameter (by slot), computed on first use. `module` and `node` are the reference
   * asking for it, if any (where a cycle through it is reported).
   */
  private valueAt(instance: Instance, slot: number, module?: Module, node?: DottedName): Value | undefined {
    const state = instance.states[slot];
    if (state === SlotState.Done) return instance.values[slot];
    if (state === SlotState.Computing) {
      this.reportCycle(instance, slot, module, node);
      return undefined;
    }
    if (this.stackSlots.length >= limits.nesting) {
      if (this.nestingReported) return undefined;
      this.nestingReported = true;
      const firstInstance = this.stackInstances[0]!;
      const firstSlot = this.stackSlots[0]!;
      const firstWinner = firstInstance.winners[firstSlot]!.assignment;
      this.binder.report(
        "CVL1218",
        this.binder.at(module ?? firstWinner.module, node ?? firstWinner.node.target),
        `references nest more than ${limits.nesting} deep (${slotPath(firstInstance, firstSlot)} -> ... -> ${slotPath(instance, slot)}); CVL refuses chains that long`,
      );
      return undefined;
    }
    instance.states[slot] = SlotState.Computing;
    this.stackInstances.push(instance);
    this.stackSlots.push(slot);
    const value = this.computeValue(instance, slot);
    this.stackInstances.pop();
    this.stackSlots.pop();
    instance.values[slot] = value;
    instance.states[slot] = SlotState.Done;
    return value;
  }

  /** Each class's resolved assignments (see resolvedOf). */
  private readonly resolvedByClass = new Map<ClassInfo, ResolvedAssignment[]>();
  /**
   * By class: the check's resolutions of its own assignments, in order; undefined where some name in
   * one named no parameter (resolvedOf resolves those again).
   */
  private readonly checkedOwn = new Map<ClassInfo, Array<ResolvedAssignment | undefined>>();
  /** References nest past the limit: reported once per evaluation. */
  private nestingReported = false;
  /** The slots being computed, outermost first (two arrays: no object per step on a hot path). */
  private readonly stackInstances: Instance[] = [];
  private readonly stackSlots: number[] = [];

  private reportCycle(instance: Instance, slot: number, module?: Module, node?: DottedName): void {
    let start = 0;
    while (
      start < this.stackSlots.length &&
      !(this.stackInstances[start] === instance && this.stackSlots[start] === slot)
    ) {
      start++;
    }
    const cycle: string[] = [];
    for (let i = start; i < this.stackSlots.length; i++)
      cycle.push(slotPath(this.stackInstances[i]!, this.stackSlots[i]!));
    cycle.push(slotPath(instance, slot));
    const winner = instance.winners[slot]!.assignment;
    this.binder.report(
      "CVL1401",
      this.binder.at(module ?? winner.module, node ?? winner.node.target),
      `references form a cycle: ${cycle.join(" -> ")}`,
    );
  }

  private computeValue(instance: Instance, slot: number): Value | undefined {
    const winner = instance.winners[slot];
    if (!winner) {
      const variable = instance.cls.params[slot]!;
      if (variable.sensitive)
        return [{ parts: [{ kind: "secret", path: slotPath(instance, slot), escapes: 0 }] }];
      if (variable.assigned)
        return [{ parts: [{ kind: "pending", path: slotPath(instance, slot), escapes: 0 }] }];
      if (variable.name === "name") return [instance.name];
      return undefined;
    }
    // Constants (most assignments) evaluate the same in every instance: share one immutable value.
    if (winner.constant !== null) return winner.constant;
    const scope = scopeOf(instance, winner);
    const module = winner.assignment.module;
    const operands = winner.operands;
    // One operand (the usual case): its value as it is (values are immutable, so they can be shared).
    const value =
      operands.length === 1
        ? this.evalOperand(scope, operands[0]!, module)
        : this.concatenate(scope, operands, module);
    if (value === undefined) return undefined;
    let total = 0;
    for (const s of value) total += textLength(s);
    if (value.length > limits.valueStrings || total > limits.valueLength) {
      this.binder.report(
        "CVL1218",
        this.binder.at(module, winner.assignment.node.target),
        `the value of ${slotPath(instance, slot)} grows to ${value.length} string${value.length === 1 ? "" : "s"} of ${total} characters, past the limits (${limits.valueStrings} strings, ${limits.valueLength} characters)`,
      );
      return undefined;
    }
    return value;
  }

  /** The values of several operands, one after the other; undefined when none has a value. */
  private concatenate(scope: Instance, operands: readonly Operand[], module: Module): Value | undefined {
    const out: CvlString[] = [];
    let anySet = false;
    for (const operand of operands) {
      const value = this.evalOperand(scope, operand, module);
      if (value === undefined) continue;
      anySet = true;
      for (const s of value) out.push(s);
    }
    return anySet ? out.slice() : undefined; // exact size: values live as long as the evaluation
  }

  private evalOperand(scope: Instance, operand: Operand, module: Module): Value | undefined {
    switch (operand.kind) {
      case "text":
        return operand.value;
      case "reference": {
        const instance = descend(scope, operand.through);
        if (!instance) return undefined;
        return this.valueAt(instance, operand.variable.slot, module, operand.node);
      }
      case "map": {
        const pairs: Array<readonly [string, Value]> = [];
        for (let i = 0; i < operand.keys.length; i++) {
          pairs.push([operand.keys[i]!, this.evalOperand(scope, operand.values[i]!, module) ?? []]);
        }
        return [encodeMap(pairs)];
      }
      case "nothing":
        return undefined;
    }
  }

  private describe(instance: Instance): EvaluatedComponent {
    const described: Described = { params: new Map(), sensitive: [], pending: [], missing: [] };
    const interfaces: string[] = [];
    this.describeParams(instance, this.paramKeys(instance.cls, ""), described);
    for (const child of instance.children) {
      if (child?.cls.category !== "interface") continue;
      interfaces.push(child.name);
      this.describeParams(child, this.paramKeys(child.cls, child.name), described);
    }
    const { params } = described;
    return {
      path: instance.path,
      name: instance.name,
      type: instance.cls.symbol.name,
      kind: instance.cls.category as ComponentKind,
      params,
      sensitive: described.sensitive,
      pending: described.pending,
      missing: described.missing,
      interfaces,
      requires: (params.get("requires") ?? []).map(display),
      provides: (params.get("provides") ?? []).map(display),
      instance,
    };
  }

  /** Adds an instance's parameters to what describe collects, under the given keys (by slot). */
  private describeParams(owner: Instance, keys: readonly string[], into: Described): void {
    const variables = owner.cls.params;
    for (let slot = 0; slot < variables.length; slot++) {
      const variable = variables[slot]!;
      const key = keys[slot]!;
      if (variable.sensitive) into.sensitive.push(key);
      const value = owner.values[slot];
      if (value === undefined) {
        const winner = owner.winners[slot]?.assignment;
        const from = winner ? this.binder.at(winner.module, winner.node) : undefined;
        if (variable.required) into.missing.push({ param: key, variable, ...(from ? { from } : {}) });
        continue;
      }
      if (isPending(value)) into.pending.push(key);
      into.params.set(key, value);
    }
  }

  /**
   * The names describe gives a class's parameters, by slot: "ip", or "ethernet0.ip" for the parameters
   * of the interface ethernet0. Made once per class and interface name, not once per component.
   */
  private paramKeys(cls: ClassInfo, interfaceName: string): readonly string[] {
    let byName = this.keysByClass.get(cls);
    if (!byName) {
      byName = new Map();
      this.keysByClass.set(cls, byName);
    }
    let keys = byName.get(interfaceName);
    if (!keys) {
      const prefix = interfaceName === "" ? "" : `${interfaceName}.`;
      keys = cls.params.map((v) => prefix + v.name);
      byName.set(interfaceName, keys);
    }
    return keys;
  }

  private readonly keysByClass = new Map<ClassInfo, Map<string, readonly string[]>>();

  /** vanIF must name an interface: the appliance's own, or (for a VAN) one of a component inside it. */
  /** Whether a path passes a component whose type is unknown or invalid (reported at its declaration). */
  private throughBrokenComponent(cls: ClassInfo, names: readonly string[]): boolean {
    let current = cls;
    for (const name of names) {
      const component = current.components.get(name);
      if (!component) return false;
      if (!component.type) return true;
      current = this.binder.classOf(component.type);
      if (current.category === "invalid" || current.category === "appliance") return true;
    }
    return false;
  }

  private checkVanInterfaces(components: readonly EvaluatedComponent[]): void {
    for (const c of components) {
      const variable = c.instance.cls.vars.get("vanIF");
      const winner = variable && c.instance.winners[variable.slot]?.assignment;
      const value = variable && c.instance.values[variable.slot];
      if (!winner || !value || value.length === 0) continue;
      const at = this.binder.at(winner.module, winner.node.values[0] ?? winner.node);
      const text = value.length === 1 && typeof value[0] === "string" ? value[0] : undefined;
      const target = text === undefined ? undefined : descendNames(c.instance, text.split("."));
      if (target?.cls.category === "interface" && (c.kind !== "van" || text!.includes("."))) continue;
      if (text !== undefined && this.throughBrokenComponent(c.instance.cls, text.split("."))) continue;
      const choices =
        c.kind === "van"
          ? 'COMPONENT.INTERFACE, like "f.ethernet1"'
          : `one of its interfaces (${c.interfaces.join(", ")})`;
      this.binder.report(
        "CVL1406",
        at,
        text === undefined
          ? `vanIF of ${c.path || c.name} must be one string naming ${choices}, but it has ${value.length === 1 ? "a value only known at start" : `${value.length} values`}`
          : `vanIF of ${c.path || c.name} is "${text}", which names no interface; it must be ${choices}`,
      );
    }
  }
}

/** Whether a value holds a pending placeholder (a value that waits for the utility's allocation). */
function isPending(value: Value): boolean {
  for (const s of value) {
    if (typeof s === "string") continue;
    for (const part of s.parts) if (typeof part !== "string" && part.kind === "pending") return true;
  }
  return false;
}

/** What describe collects from an instance and its interfaces. */
interface Described {
  readonly params: Map<string, Value>;
  readonly sensitive: string[];
  readonly pending: string[];
  readonly missing: Array<{ param: string; variable: VarInfo; from?: Location }>;
}

/** Whether every reference among the operands names a parameter (see resolvedOf). */
function isComplete(operands: readonly Operand[]): boolean {
  for (const operand of operands) {
    if (operand.kind === "nothing") return false;
    if (operand.kind === "map" && !isComplete(operand.values)) return false;
  }
  return true;
}

function isRunnable(cls: ClassInfo): boolean {
  return cls.category === "vm" || cls.category === "container" || cls.category === "van";
}

function kindWord(category: string): string {
  return category === "van"
    ? "VAN"
    : category === "vm"
      ? "VM appliance"
      : category === "container"
        ? "container appliance"
        : category;
}

function article(category: string): string {
  switch (category) {
    case "vm":
      return "a VM appliance";
    case "container":
      return "a container appliance";
    case "van":
      return "a VAN";
    case "interface":
      return "an Interface";
    case "appliance":
      return "an abstract Appliance";
    default:
      return "not an appliance";
  }
}

/** Required parameters without a value, as diagnostics: what a start refuses to go on without. */
export function reportMissingRequired(
  components: readonly EvaluatedComponent[],
  diagnostics: DiagnosticBag,
  rootName: string,
  severity: "error" | "warning",
): void {
  for (const c of components) {
    for (const { param, variable: v, from } of c.missing) {
      const path = c.path === "" ? param : `${c.path}.${param}`;
      const declared = v.module.isPrelude ? `the built-in ${v.owner.name}` : v.owner.name;
      const notes: RelatedInformation[] = [
        {
          file: v.module.source,
          start: v.node.pos,
          length: v.node.end - v.node.pos,
          message: `'${v.name}' is declared required in ${declared} here`,
        },
      ];
      let message = `the required parameter '${path}' has no value; set it in ${rootName} (${path} = "...";)`;
      if (from) {
        message = `the required parameter '${path}' has no value: it is assigned only from parameters that have none; give them values in ${rootName}`;
        notes.push({ ...from, message: `'${path}' is assigned here` });
      }
      diagnostics.add("CVL1402", declaredAt(c.instance), message, notes, severity);
    }
  }
}
