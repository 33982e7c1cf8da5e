/**
 * The binder: gives every object a symbol, resolves `extends` and component types through each file's
 * scope (prelude objects, imports, the file's own objects), and computes each object's class: its chain of
 * ancestors, the parameters and components it declares or inherits, its kind, and its assignments in
 * late-binding order. It checks every rule that does not need an instance tree, once per declaration.
 */
import { type Assignment, type DottedName, type Name, namePart, type ObjectDeclaration } from "./ast.js";
import type { DiagnosticCode } from "./codes.js";
import type { DiagnosticBag, Location, RelatedInformation } from "./diagnostics.js";
import type { LoadedProgram, Module } from "./loader.js";
import { didYouMean } from "./suggest.js";

export type Category = "interface" | "vm" | "container" | "van" | "appliance" | "invalid";
export type MachineKind = "vm" | "container";

export interface ObjectSymbol {
  readonly name: string;
  readonly module: Module;
  readonly declaration: ObjectDeclaration;
}

export interface VarInfo {
  readonly name: string;
  /**
   * Where an instance keeps this parameter's value (see instances.ts). A class's parameters are its
   * parent's, in the same order, then its own, so a parameter has the same slot in every class that has it.
   */
  readonly slot: number;
  readonly required: boolean;
  readonly sensitive: boolean;
  /** Filled in by the utility when it allocates (pending until then). */
  readonly assigned: boolean;
  readonly node: Name;
  readonly module: Module;
  readonly owner: ObjectSymbol;
}

export interface ComponentInfo {
  readonly name: string;
  /** Where an instance keeps this component's instance: the same in every class that has it, as for VarInfo. */
  readonly slot: number;
  readonly node: Name;
  readonly type: ObjectSymbol | undefined;
  readonly module: Module;
  readonly owner: ObjectSymbol;
}

export interface AssignmentInfo {
  readonly node: Assignment;
  readonly module: Module;
  readonly owner: ObjectSymbol;
}

export interface ClassInfo {
  readonly symbol: ObjectSymbol;
  /** Root ancestor first, this object last. */
  readonly chain: readonly ObjectSymbol[];
  readonly category: Category;
  readonly vars: ReadonlyMap<string, VarInfo>;
  /** The parameters in slot order: params[i].slot === i. */
  readonly params: readonly VarInfo[];
  readonly components: ReadonlyMap<string, ComponentInfo>;
  /** In late-binding order within one instance: root ancestor's first, text order within an object. */
  readonly assignments: readonly AssignmentInfo[];
}

/**
 * What a dotted path names, relative to a class: a parameter of a (nested) component, or a component.
 * `through` is the components the path passes on the way, outermost first.
 */
export type PathTarget =
  | { readonly kind: "param"; readonly through: readonly ComponentInfo[]; readonly variable: VarInfo }
  | { readonly kind: "component"; readonly through: readonly ComponentInfo[]; readonly info: ComponentInfo };

const preludeCategories: Record<string, Category> = {
  Interface: "interface",
  Appliance: "appliance",
  VMAppliance: "vm",
  ContainerAppliance: "container",
  VANAppliance: "van",
};

const knownAttributes = ["required", "sensitive", "assigned"];

const noComponents: readonly ComponentInfo[] = [];

export class Binder {
  private readonly scopes = new Map<Module, Map<string, ObjectSymbol>>();
  private readonly classes = new Map<ObjectSymbol, ClassInfo>();
  private readonly inProgress = new Set<ObjectSymbol>();
  /** Declarations reported already: the same mistake is reported once, not once per use. */
  private readonly reported = new Set<string>();
  readonly symbolsByModule = new Map<Module, ObjectSymbol[]>();

  constructor(
    readonly program: LoadedProgram,
    private readonly diagnostics: DiagnosticBag,
  ) {
    const preludeScope = this.declareObjects(program.prelude, new Map());
    for (const module of program.modules.values()) this.declareObjects(module, preludeScope);
    // Imported files first, so an import binds an object whose own imports are already bound.
    const bound = new Set<Module>();
    const visit = (module: Module) => {
      if (bound.has(module)) return;
      bound.add(module);
      for (const b of module.imports) visit(b.module);
      this.bindImports(module);
    };
    for (const module of program.modules.values()) visit(module);
  }

  report(
    code: DiagnosticCode,
    location: Location,
    message: string,
    related: RelatedInformation[] = [],
  ): void {
    const key = `${code}:${location.file?.name}:${location.start}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.diagnostics.add(code, location, message, related);
  }

  at(module: Module, node: { pos: number; end: number }): Location {
    return { file: module.source, start: node.pos, length: Math.max(1, node.end - node.pos) };
  }

  private declareObjects(module: Module, preludeScope: Map<string, ObjectSymbol>): Map<string, ObjectSymbol> {
    const scope = new Map(preludeScope);
    const own: ObjectSymbol[] = [];
    for (const statement of module.ast.statements) {
      if (statement.kind !== "Object" || statement.name.missing) continue;
      const name = statement.name.text;
      const symbol: ObjectSymbol = { name, module, declaration: statement };
      const existing = scope.get(name);
      if (existing) {
        const what = existing.module.isPrelude
          ? "a built-in object of the prelude"
          : "another object in this file";
        this.report(
          "CVL1203",
          this.at(module, statement.name),
          `'${name}' is already the name of ${what}; rename it`,
          existing.module.isPrelude
            ? []
            : [
                {
                  ...this.at(existing.module, existing.declaration.name),
                  message: `the first '${name}' is here`,
                },
              ],
        );
        continue;
      }
      scope.set(name, symbol);
      own.push(symbol);
    }
    this.scopes.set(module, scope);
    this.symbolsByModule.set(module, own);
    return scope;
  }

  private bindImports(module: Module): void {
    const scope = this.scopes.get(module)!;
    for (const binding of module.imports) {
      const name = binding.name;
      const existing = scope.get(name);
      if (existing) {
        const what = existing.module.isPrelude
          ? "a built-in object of the prelude"
          : "an object in this file";
        this.report(
          "CVL1203",
          this.at(module, binding.statement.name),
          `the import name '${name}' is already the name of ${what}; import it under another name`,
        );
        continue;
      }
      const target = this.selectObject(
        binding.module,
        binding.objectName,
        this.at(module, binding.statement),
      );
      if (target) scope.set(name, target);
    }
  }

  /**
   * The object a file defines for running or importing: the one named, or else the single top-level
   * appliance no other object in the file extends or uses as a component type.
   */
  selectObject(
    module: Module,
    objectName: string | undefined,
    blame: Location | undefined,
  ): ObjectSymbol | undefined {
    const own = this.symbolsByModule.get(module) ?? [];
    const code: DiagnosticCode = blame ? "CVL1303" : "CVL1217";
    const where: Location = blame ?? { file: module.source, start: 0, length: 0 };
    const inFile = blame ? ` in ${module.source.name}` : "";
    if (objectName !== undefined) {
      const found = own.find((s) => s.name === objectName);
      if (!found) {
        this.report(
          code,
          where,
          `no object '${objectName}'${inFile || " in this file"}; it defines ${own.map((s) => s.name).join(", ") || "no objects"}.${didYouMean(
            objectName,
            own.map((s) => s.name),
          )}`,
        );
      }
      return found;
    }
    // An import may bind any kind of object (a file may define just an Interface); a run needs an appliance.
    const candidates = this.rootCandidates(module, blame !== undefined);
    if (candidates.length === 1) return candidates[0];
    const names = candidates.map((s) => s.name).join(", ");
    const message =
      candidates.length === 0
        ? blame
          ? own.length === 0
            ? `${module.source.name} defines no objects, so there is nothing to import`
            : `every object in ${module.source.name} is extended or used by another one there; pick one with object => "Name" in the import`
          : "this file defines no appliance that could be run (a VM, container or VAN appliance that no other object in it extends or uses)"
        : blame
          ? `${module.source.name} defines several objects (${names}); pick one with object => "Name" in the import`
          : `this file defines several appliances (${names}); pick one with --object NAME`;
    this.report(blame ? "CVL1303" : "CVL1216", where, message);
    return undefined;
  }

  /**
   * The file's appliances (or, with anyCategory, objects of any valid kind) that no other object in the file
   * extends or uses as a component type.
   */
  rootCandidates(module: Module, anyCategory = false): ObjectSymbol[] {
    const own = this.symbolsByModule.get(module) ?? [];
    const used = new Set<string>();
    for (const s of own) {
      if (s.declaration.base) used.add(s.declaration.base.text);
      for (const m of s.declaration.members) if (m.kind === "Component") used.add(m.type.text);
    }
    return own.filter((s) => {
      const category = this.classOf(s).category;
      const runnable = category === "vm" || category === "container" || category === "van";
      return !used.has(s.name) && (runnable || (anyCategory && category !== "invalid"));
    });
  }

  lookup(module: Module, name: string): ObjectSymbol | undefined {
    return this.scopes.get(module)?.get(name);
  }

  /** Whether a name is bound by an import statement that failed (already reported at the import). */
  private isFailedImport(module: Module, name: string): boolean {
    return module.ast.statements.some((s) => s.kind === "Import" && s.name.text === name);
  }

  private visibleNames(module: Module): string[] {
    return [...(this.scopes.get(module)?.keys() ?? [])];
  }

  /** The class of an object, computed once; reports declaration errors the first time. */
  classOf(symbol: ObjectSymbol): ClassInfo {
    const known = this.classes.get(symbol);
    if (known) return known;
    if (this.inProgress.has(symbol)) {
      // An extends cycle: report at this declaration and cut the chain here.
      const base = symbol.declaration.base!;
      const inCycle = [...this.inProgress];
      const cycle = [...inCycle.slice(inCycle.indexOf(symbol)), symbol].map((s) => s.name);
      this.report(
        "CVL1209",
        this.at(symbol.module, base),
        `objects extend each other in a cycle: ${cycle.join(" extends ")}; one of them must extend something else`,
      );
      return {
        symbol,
        chain: [symbol],
        category: "invalid",
        vars: new Map(),
        params: [],
        components: new Map(),
        assignments: [],
      };
    }
    this.inProgress.add(symbol);
    const info = this.computeClass(symbol);
    this.inProgress.delete(symbol);
    this.classes.set(symbol, info);
    return info;
  }

  private computeClass(symbol: ObjectSymbol): ClassInfo {
    const { module, declaration } = symbol;
    let parent: ClassInfo | undefined;
    if (declaration.base && !declaration.base.missing) {
      const baseSymbol = this.lookup(module, declaration.base.text);
      if (!baseSymbol && !this.isFailedImport(module, declaration.base.text)) {
        this.report(
          "CVL1201",
          this.at(module, declaration.base),
          `${symbol.name} extends '${declaration.base.text}', which is not defined or imported.${didYouMean(declaration.base.text, this.visibleNames(module))}`,
        );
      } else if (baseSymbol) parent = this.classOf(baseSymbol);
    }
    let category: Category;
    if (module.isPrelude) category = preludeCategories[symbol.name] ?? "invalid";
    else if (parent) category = parent.category;
    else {
      category = "invalid";
      if (!declaration.base) {
        this.report(
          "CVL1212",
          this.at(module, declaration.name),
          `${symbol.name} extends nothing; an object must extend VMAppliance, ContainerAppliance, VANAppliance, Interface or an object derived from them`,
        );
      }
    }
    const vars = new Map(parent?.vars);
    const components = new Map(parent?.components);
    const assignments = [...(parent?.assignments ?? [])];
    for (const member of declaration.members) {
      if (member.kind === "Var") this.declareVars(symbol, member.attributes, member.names, vars, components);
      else if (member.kind === "Component") {
        const type = member.type.missing ? undefined : this.lookup(module, member.type.text);
        if (!type && !member.type.missing && !this.isFailedImport(module, member.type.text)) {
          const hint = didYouMean(member.type.text, this.visibleNames(module));
          this.report(
            "CVL1202",
            this.at(module, member.type),
            `'${member.type.text}' is not an object defined, imported or built in.${hint || ` Define it in this file or import it (import { url => "..." } ${member.type.text};)`}`,
          );
        }
        for (const name of member.names) {
          const clash = vars.get(name.text) ?? components.get(name.text);
          if (clash) {
            const what = vars.has(name.text) ? "a parameter" : "a component";
            this.report(
              "CVL1205",
              this.at(module, name),
              `'${name.text}' is already declared as ${what} of ${symbol.name}${clash.owner === symbol ? "" : ` (in ${clash.owner.name})`}; give the component another name`,
              [{ ...this.at(clash.module, clash.node), message: `'${name.text}' is declared here` }],
            );
            continue;
          }
          components.set(name.text, {
            name: name.text,
            slot: components.size,
            node: name,
            type,
            module,
            owner: symbol,
          });
        }
      } else assignments.push({ node: member, module, owner: symbol });
    }
    // The chain is computed when asked for: copying it into every class costs O(depth²) on long chains.
    const info: ClassInfo = {
      symbol,
      get chain() {
        return [...(parent?.chain ?? []), symbol];
      },
      category,
      vars,
      params: [...vars.values()],
      components,
      assignments,
    };
    return info;
  }

  private declareVars(
    owner: ObjectSymbol,
    attributes: ReadonlyArray<{ value: string; pos: number; end: number }>,
    names: readonly Name[],
    vars: Map<string, VarInfo>,
    components: ReadonlyMap<string, ComponentInfo>,
  ): void {
    const module = owner.module;
    for (const attribute of attributes) {
      if (!knownAttributes.includes(attribute.value)) {
        this.report(
          "CVL1105",
          this.at(module, attribute),
          `"${attribute.value}" is not an attribute; the attributes are "required" and "sensitive".${didYouMean(attribute.value, ["required", "sensitive"])}`,
        );
      } else if (attribute.value === "assigned" && !module.isPrelude) {
        this.report(
          "CVL1219",
          this.at(module, attribute),
          `"assigned" marks parameters the utility itself fills in and is reserved for the prelude; declare the parameter without it`,
        );
      }
    }
    const has = (a: string) => attributes.some((x) => x.value === a);
    for (const name of names) {
      const previous = vars.get(name.text);
      if (previous || components.has(name.text)) {
        const where = previous ? ` (in ${previous.owner.name})` : " as a component";
        this.report(
          "CVL1204",
          this.at(module, name),
          `the parameter '${name.text}' is already declared${where}`,
          previous
            ? [{ ...this.at(previous.module, previous.node), message: `'${name.text}' is declared here` }]
            : [],
        );
        continue;
      }
      vars.set(name.text, {
        name: name.text,
        slot: vars.size,
        required: has("required"),
        sensitive: has("sensitive"),
        assigned: has("assigned") && module.isPrelude,
        node: name,
        module,
        owner,
      });
    }
  }

  /** One shared path per component for paths through a single component (most of them). */
  private readonly paths = new Map<ComponentInfo, readonly ComponentInfo[]>();

  private pathTo(component: ComponentInfo): readonly ComponentInfo[] {
    let path = this.paths.get(component);
    if (!path) {
      path = [component];
      this.paths.set(component, path);
    }
    return path;
  }

  /**
   * Resolves a dotted path relative to a class. Returns undefined (after reporting, when `report` is set)
   * if some part names nothing. `usage` words the messages for assignments or references.
   */
  resolvePath(
    cls: ClassInfo,
    path: DottedName,
    module: Module,
    usage: "assign" | "reference",
    reportErrors: boolean,
  ): PathTarget | undefined {
    let current = cls;
    // Most paths name a parameter of the class itself: those share one empty array.
    let through: readonly ComponentInfo[] = noComponents;
    const names = path.names;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const last = i === names.length - 1;
      const variable = current.vars.get(name);
      if (variable && last) return { kind: "param", through, variable };
      const component = current.components.get(name);
      if (component) {
        if (last) return { kind: "component", through, info: component };
        if (!component.type) return undefined; // unknown type, reported at its declaration
        through = through.length === 0 ? this.pathTo(component) : [...through, component];
        current = this.classOf(component.type);
        continue;
      }
      // A class whose extends chain is broken (reported at its declaration) lacks what it would inherit.
      if (!reportErrors || current.category === "invalid") return undefined;
      const owner =
        through.length === 0
          ? cls.symbol.name
          : `${through.map((c) => c.name).join(".")} (${current.symbol.name})`;
      const candidates = last
        ? [...current.vars.keys(), ...current.components.keys()]
        : [...current.components.keys()];
      const part = namePart(path, i);
      const hint = didYouMean(part.text, candidates);
      if (variable) {
        // A parameter used as if it had components: a.b where a is a parameter.
        this.report(
          "CVL1208",
          this.at(module, part),
          `'${part.text}' is a parameter of ${owner}, not a component, so '${names.slice(0, i + 2).join(".")}' names nothing`,
        );
      } else if (!last) {
        this.report("CVL1208", this.at(module, part), `${owner} has no component '${part.text}'.${hint}`);
      } else {
        const code = usage === "assign" ? "CVL1206" : "CVL1207";
        const verb =
          usage === "assign"
            ? "cannot be assigned: it is not a declared parameter of"
            : "is not a parameter of";
        const fix = usage === "assign" && through.length === 0 ? ` Declare it first: var ${part.text};` : "";
        const params = [...current.vars.keys()];
        const list =
          params.length > 0 && params.length <= 12 ? ` Its parameters are ${params.join(", ")}.` : "";
        this.report(code, this.at(module, part), `'${part.text}' ${verb} ${owner}.${hint || fix || list}`);
      }
      return undefined;
    }
    return undefined;
  }
}
