/**
 * The evaluator: from bound objects to an evaluated tree of components with parameter values.
 *
 * Late binding (docs/cvl.md): every assignment is first attached to the slot it targets, where the
 * winner is the last in this order: the utility's defaults, the component type's chain (root ancestor
 * first), the enclosing VAN's chain, the VAN enclosing that, outermost last. Only then are values
 * computed, lazily, resolving references relative to the instance whose body holds the assignment.
 */
import type { Assignment, DottedName, Rhs } from "./ast.js";
import type { AssignmentInfo, Binder, ClassInfo, ObjectSymbol, VarInfo } from "./binder.js";
import type { DiagnosticBag, Location, RelatedInformation } from "./diagnostics.js";
import { buildInstances, declaredAt, descend, type Instance, paramPath, type Slot } from "./instances.js";
import { limits } from "./limits.js";
import type { Module } from "./loader.js";
import { type CvlString, display, encodeMap, textLength, type Value } from "./values.js";

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
  const winner = component.instance.slots.get(param)?.winner;
  if (!winner) return undefined;
  return { location: winner.assignment.module.location, origin: winner.assignment.module.origin };
}

export class Evaluator {
  private readonly checkedAssignments = new WeakSet<Assignment>();

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
      for (const a of cls.assignments) if (a.owner === symbol) this.checkAssignment(cls, a.node, a.module);
    }
  }

  private checkTopLevelAssignment(module: Module, statement: Assignment): void {
    const target = statement.target.parts.map((p) => p.text).join(".");
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

  private checkAssignment(cls: ClassInfo, node: Assignment, module: Module): void {
    if (this.checkedAssignments.has(node)) return;
    this.checkedAssignments.add(node);
    const target = this.binder.resolvePath(cls, node.target, module, "assign", true);
    if (target?.kind === "component") {
      const params = target.info.type ? [...this.binder.classOf(target.info.type).vars.keys()] : [];
      const example = params.includes("name") ? "name" : params.includes("ip") ? "ip" : params[0];
      this.binder.report(
        "CVL1220",
        this.binder.at(module, node.target),
        `'${dotted(node.target)}' is a component, not a parameter; assign to one of its parameters${example ? ` (${dotted(node.target)}.${example} = ...)` : ""}`,
      );
    }
    const targetVar = target?.kind === "param" ? target.variable : undefined;
    for (const value of node.values) {
      if (targetVar?.sensitive && value.kind === "String") {
        this.binder.report(
          "CVL1407",
          this.binder.at(module, value),
          `'${dotted(node.target)}' is sensitive, so its value must not be written in a file; leave it unset (the user supplies it when the appliance starts) or assign another sensitive parameter`,
        );
      }
      this.checkReferences(cls, value, module, targetVar, node.target);
    }
  }

  private checkReferences(
    cls: ClassInfo,
    rhs: Rhs,
    module: Module,
    targetVar: VarInfo | undefined,
    targetName: DottedName,
  ): void {
    if (rhs.kind === "String") return;
    if (rhs.kind === "Map") {
      for (const pair of rhs.pairs) this.checkReferences(cls, pair.value, module, targetVar, targetName);
      return;
    }
    const ref = this.binder.resolvePath(cls, rhs, module, "reference", true);
    if (ref?.kind === "component") {
      this.binder.report(
        "CVL1207",
        this.binder.at(module, rhs),
        `'${dotted(rhs)}' is a component, not a parameter; to name it, write the string "${dotted(rhs)}", or use one of its parameters such as ${dotted(rhs)}.name`,
      );
    } else if (ref?.kind === "param" && ref.variable.sensitive && targetVar && !targetVar.sensitive) {
      this.binder.report(
        "CVL1403",
        this.binder.at(module, rhs),
        `'${dotted(rhs)}' is sensitive but '${dotted(targetName)}' is not, so its secret would be shown and stored in plain text; declare '${targetVar.name}' with var "sensitive"`,
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
    for (const instance of all) for (const name of instance.slots.keys()) this.valueOf(instance, name);
    const components = all.filter((i) => isRunnable(i.cls)).map((i) => this.describe(i));
    this.checkVanInterfaces(components);
    return { components, instances: all };
  }

  /** Late binding: attach each assignment to the slot it targets; outer scopes win over inner ones. */
  /** Per class: each assignment's resolved target and, for constants, its value. Same for every instance. */
  private readonly classTargets = new Map<
    ClassInfo,
    Array<{ assignment: AssignmentInfo; components: readonly string[]; name: string; constant: Value | null }>
  >();

  private targetsOf(cls: ClassInfo) {
    let targets = this.classTargets.get(cls);
    if (!targets) {
      targets = [];
      for (const assignment of cls.assignments) {
        const target = this.binder.resolvePath(
          cls,
          assignment.node.target,
          assignment.module,
          "assign",
          false,
        );
        if (target?.kind !== "param") continue;
        const constant = assignment.node.values.every(isConstant)
          ? assignment.node.values.map(constantValue)
          : null;
        targets.push({ assignment, components: target.components, name: target.variable.name, constant });
      }
      this.classTargets.set(cls, targets);
    }
    return targets;
  }

  private attachAssignments(all: readonly Instance[]): void {
    for (const scope of all) {
      for (const { assignment, components, name, constant } of this.targetsOf(scope.cls)) {
        const instance = components.length === 0 ? scope : descend(scope, components);
        const slot = instance?.slots.get(name);
        if (!slot) continue;
        // Instances are visited outermost first and assignments in chain and text order, so a later
        // candidate wins unless it comes from a deeper (inner) scope than the current winner.
        if (!slot.winner || scope.depth <= slot.winner.scope.depth)
          slot.winner = { assignment, scope, constant };
      }
    }
  }

  private valueOf(
    instance: Instance,
    name: string,
    referrer?: { module: Module; node: DottedName },
  ): Value | undefined {
    const slot = instance.slots.get(name);
    if (!slot) return undefined;
    if (slot.state === 2) return slot.value;
    if (slot.state === 1) {
      this.reportCycle(instance, name, referrer);
      return undefined;
    }
    if (this.stackNames.length >= limits.nesting) {
      if (this.nestingReported) return undefined;
      this.nestingReported = true;
      const first = { instance: this.stackInstances[0]!, name: this.stackNames[0]! };
      const firstWinner = first.instance.slots.get(first.name)!.winner!;
      const at = referrer ?? {
        module: firstWinner.assignment.module,
        node: firstWinner.assignment.node.target,
      };
      this.binder.report(
        "CVL1218",
        this.binder.at(at.module, at.node),
        `references nest more than ${limits.nesting} deep (${paramPath(first.instance, first.name)} -> ... -> ${paramPath(instance, name)}); CVL refuses chains that long`,
      );
      return undefined;
    }
    slot.state = 1;
    this.stackInstances.push(instance);
    this.stackNames.push(name);
    slot.value = this.computeValue(instance, name, slot);
    this.stackInstances.pop();
    this.stackNames.pop();
    slot.state = 2;
    return slot.value;
  }

  /** References nest past the limit: reported once per evaluation. */
  private nestingReported = false;
  /** The slots being computed, outermost first (two arrays: no object per step on a hot path). */
  private readonly stackInstances: Instance[] = [];
  private readonly stackNames: string[] = [];

  private reportCycle(
    instance: Instance,
    name: string,
    referrer?: { module: Module; node: DottedName },
  ): void {
    let start = 0;
    while (
      start < this.stackNames.length &&
      !(this.stackInstances[start] === instance && this.stackNames[start] === name)
    ) {
      start++;
    }
    const cycle: string[] = [];
    for (let i = start; i < this.stackNames.length; i++)
      cycle.push(paramPath(this.stackInstances[i]!, this.stackNames[i]!));
    cycle.push(paramPath(instance, name));
    const winner = instance.slots.get(name)!.winner!;
    const where = referrer ?? { module: winner.assignment.module, node: winner.assignment.node.target };
    this.binder.report(
      "CVL1401",
      this.binder.at(where.module, where.node),
      `references form a cycle: ${cycle.join(" -> ")}`,
    );
  }

  private computeValue(instance: Instance, name: string, slot: Slot): Value | undefined {
    const variable = instance.cls.vars.get(name)!;
    const winner = slot.winner;
    if (!winner) {
      const path = paramPath(instance, name);
      if (variable.sensitive) return [{ parts: [{ kind: "secret", path, escapes: 0 }] }];
      if (variable.assigned) return [{ parts: [{ kind: "pending", path, escapes: 0 }] }];
      if (name === "name") return [instance.name];
      return undefined;
    }
    const { assignment, scope } = winner;
    // Constants (most assignments) evaluate the same in every instance: share one immutable value.
    if (winner.constant !== null) return winner.constant;
    const out: CvlString[] = [];
    let anySet = false;
    for (const rhs of assignment.node.values) {
      const value = this.evalRhs(scope, rhs, assignment.module);
      if (value === undefined) continue;
      anySet = true;
      for (const s of value) out.push(s);
    }
    if (!anySet) return undefined;
    let total = 0;
    for (const s of out) total += textLength(s);
    if (out.length > limits.valueStrings || total > limits.valueLength) {
      this.binder.report(
        "CVL1218",
        this.binder.at(assignment.module, assignment.node.target),
        `the value of ${paramPath(instance, name)} grows to ${out.length} string${out.length === 1 ? "" : "s"} of ${total} characters, past the limits (${limits.valueStrings} strings, ${limits.valueLength} characters)`,
      );
      return undefined;
    }
    return out.slice(); // exact size: values live as long as the evaluation
  }

  private evalRhs(scope: Instance, rhs: Rhs, module: Module): Value | undefined {
    switch (rhs.kind) {
      case "String":
        return [rhs.value];
      case "DottedName": {
        const target = this.binder.resolvePath(scope.cls, rhs, module, "reference", false);
        if (target?.kind !== "param") return undefined;
        const instance = descend(scope, target.components);
        if (!instance) return undefined;
        return this.valueOf(instance, target.variable.name, { module, node: rhs });
      }
      case "Map": {
        const pairs: Array<readonly [string, Value]> = [];
        for (const pair of rhs.pairs) {
          const key = pair.key.kind === "Name" ? pair.key.text : pair.key.value;
          pairs.push([key, this.evalRhs(scope, pair.value, module) ?? []]);
        }
        return [encodeMap(pairs)];
      }
    }
  }

  private describe(instance: Instance): EvaluatedComponent {
    const params = new Map<string, Value>();
    const sensitive: string[] = [];
    const pending: string[] = [];
    const missing: Array<{ param: string; variable: VarInfo; from?: Location }> = [];
    const interfaces: string[] = [];
    const add = (owner: Instance, prefix: string) => {
      for (const [name, slot] of owner.slots) {
        const variable = owner.cls.vars.get(name)!;
        const key = prefix + name;
        if (variable.sensitive) sensitive.push(key);
        if (slot.value === undefined) {
          const winner = slot.winner;
          const from = winner ? this.binder.at(winner.assignment.module, winner.assignment.node) : undefined;
          if (variable.required) missing.push({ param: key, variable, ...(from ? { from } : {}) });
          continue;
        }
        if (
          slot.value.some(
            (s) =>
              typeof s !== "string" && s.parts.some((p) => typeof p !== "string" && p.kind === "pending"),
          )
        ) {
          pending.push(key);
        }
        params.set(key, slot.value);
      }
    };
    add(instance, "");
    for (const child of instance.children.values()) {
      if (child.cls.category !== "interface") continue;
      interfaces.push(child.name);
      add(child, `${child.name}.`);
    }
    const strings = (name: string) => (params.get(name) ?? []).map(display);
    return {
      path: instance.path,
      name: instance.name,
      type: instance.cls.symbol.name,
      kind: instance.cls.category as ComponentKind,
      params,
      sensitive,
      pending,
      missing,
      interfaces,
      requires: strings("requires"),
      provides: strings("provides"),
      instance,
    };
  }

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
      const slot = c.instance.slots.get("vanIF");
      const value = slot?.value;
      if (!slot?.winner || !value || value.length === 0) continue;
      const at = this.binder.at(
        slot.winner.assignment.module,
        slot.winner.assignment.node.values[0] ?? slot.winner.assignment.node,
      );
      const text = value.length === 1 && typeof value[0] === "string" ? value[0] : undefined;
      const target = text === undefined ? undefined : descend(c.instance, text.split("."));
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

function isConstant(rhs: Rhs): boolean {
  return rhs.kind === "String" || (rhs.kind === "Map" && rhs.pairs.every((p) => isConstant(p.value)));
}

/** A constant's string (a map encoded as k=v&k2=v2); only for isConstant values. */
function constantValue(rhs: Rhs): CvlString {
  if (rhs.kind === "String") return rhs.value;
  if (rhs.kind === "Map") {
    return encodeMap(
      rhs.pairs.map(
        (p) => [p.key.kind === "Name" ? p.key.text : p.key.value, [constantValue(p.value)]] as const,
      ),
    );
  }
  throw new Error("constantValue of a reference");
}

function isRunnable(cls: ClassInfo): boolean {
  return cls.category === "vm" || cls.category === "container" || cls.category === "van";
}

function dotted(name: DottedName): string {
  return name.parts.map((p) => p.text).join(".");
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
