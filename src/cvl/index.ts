/**
 * The CVL library's front door: load a file with its imports, check it, evaluate it.
 *
 *   const result = await evaluateFile("acme.cvl", { resolver });
 *   if (result.evaluation) for (const c of result.evaluation.components) ...
 *
 * cvl/ knows nothing of hosts or repositories: imports go through the ImportResolver it is given.
 */
import { Binder } from "./binder.js";
import { startWaves } from "./dependencies.js";
import { createSourceFile, type Diagnostic, DiagnosticBag, sortDiagnostics } from "./diagnostics.js";
import { type EvaluatedComponent, Evaluator, reportMissingRequired } from "./evaluator.js";
import { winnerOf } from "./instances.js";
import type { ImportBinding, LoadedProgram } from "./loader.js";
import { ProgramLoader } from "./loader.js";
import {
  ChainResolver,
  displayNameOf,
  type ImportOrigin,
  type ImportResolver,
  LocalFileResolver,
} from "./resolver.js";

export type { Diagnostic } from "./diagnostics.js";
export type { ComponentKind, EvaluatedComponent, ValueSource } from "./evaluator.js";
export { valueSource } from "./evaluator.js";
export type { ImportResolver } from "./resolver.js";

export interface EvaluateOptions {
  /** How imports are found; local files only when absent. */
  readonly resolver?: ImportResolver;
  /** Which object of the file to evaluate (needed when the file defines several appliances). */
  readonly object?: string;
  /** Report required parameters without a value as errors (what a start demands) instead of warnings. */
  readonly requireComplete?: boolean;
  /** Source text to use instead of reading the file (the name is still used for messages). */
  readonly text?: string;
}

/** An import as resolved, for recording (which repository and version a start used). */
export interface ResolvedImport {
  readonly name: string;
  readonly file: string;
  readonly url: string;
  readonly location: string;
  readonly origin: ImportOrigin | undefined;
}

export interface Evaluation {
  /** The root object's name. */
  readonly appliance: string;
  /** The entry file as given. */
  readonly file: string;
  /** The root first, then every VAN and machine appliance breadth-first. */
  readonly components: readonly EvaluatedComponent[];
  /** Waves of machine component paths: each wave starts when the previous one is ready. */
  readonly startOrder: readonly string[][];
  readonly imports: readonly ResolvedImport[];
}

export interface EvaluateResult {
  /** Present when the file has no errors. */
  readonly evaluation: Evaluation | undefined;
  /** Every diagnostic, sorted by file and position. */
  readonly diagnostics: readonly Diagnostic[];
}

export function defaultResolver(): ImportResolver {
  return new ChainResolver([new LocalFileResolver()]);
}

async function load(path: string, options: EvaluateOptions, bag: DiagnosticBag): Promise<LoadedProgram> {
  const loader = new ProgramLoader(options.resolver ?? defaultResolver(), bag);
  return options.text === undefined ? loader.loadFile(path) : loader.loadText(path, options.text);
}

function importsOf(program: LoadedProgram): ResolvedImport[] {
  const out: ResolvedImport[] = [];
  for (const module of program.modules.values()) {
    for (const b of module.imports as ImportBinding[]) {
      out.push({
        name: b.name,
        file: module.source.name,
        url: b.request.url,
        location: b.module.location,
        origin: b.module.origin,
      });
    }
  }
  return out;
}

function evaluateRoot(
  binder: Binder,
  evaluator: Evaluator,
  bag: DiagnosticBag,
  options: EvaluateOptions,
  rootSymbol: NonNullable<ReturnType<Binder["selectObject"]>>,
): { components: EvaluatedComponent[]; startOrder: string[][] } | undefined {
  const errorsBefore = bag.errorCount;
  const result = evaluator.evaluate(rootSymbol);
  if (!result) return undefined;
  reportMissingRequired(
    result.components,
    bag,
    rootSymbol.name,
    options.requireComplete ? "error" : "warning",
  );
  const locate = (c: EvaluatedComponent, param: "requires" | "provides") => {
    const winner = winnerOf(c.instance, param);
    if (winner) return binder.at(winner.assignment.module, winner.assignment.node);
    return binder.at(c.instance.cls.symbol.module, c.instance.cls.symbol.declaration.name);
  };
  const waves = startWaves(result.components, bag, locate, options.requireComplete ? "error" : "warning");
  if (!waves || bag.errorCount > errorsBefore) return undefined;
  return { components: result.components, startOrder: waves };
}

/** Loads, checks and evaluates a file's appliance. */
export async function evaluateFile(path: string, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const bag = new DiagnosticBag();
  try {
    return await evaluateInto(bag, path, options);
  } catch (error) {
    return {
      evaluation: undefined,
      diagnostics: sortDiagnostics([...bag.items, overflowDiagnostic(error, path)]),
    };
  }
}

/**
 * The last line of defence against input nested deeper than the limits foresee: the stack overflows.
 * That is the input's fault, so it is a diagnostic, not an internal error.
 */
function overflowDiagnostic(error: unknown, path: string): Diagnostic {
  if (!(error instanceof RangeError)) throw error;
  const bag = new DiagnosticBag();
  return bag.add(
    "CVL1218",
    { file: createSourceFile(displayNameOf(path), ""), start: 0, length: 0 },
    "the file nests too deeply to evaluate (the evaluator ran out of stack); flatten its maps, references or components",
  );
}

async function evaluateInto(
  bag: DiagnosticBag,
  path: string,
  options: EvaluateOptions,
): Promise<EvaluateResult> {
  const program = await load(path, options, bag);
  const entry = program.entry;
  if (!entry) return { evaluation: undefined, diagnostics: sortDiagnostics(bag.items) };
  const binder = new Binder(program, bag);
  const evaluator = new Evaluator(binder);
  for (const module of program.modules.values()) evaluator.checkModule(module);
  const rootSymbol = binder.selectObject(entry, options.object, undefined);
  let evaluation: Evaluation | undefined;
  if (rootSymbol) {
    const result = evaluateRoot(binder, evaluator, bag, options, rootSymbol);
    if (result && !bag.hasErrors()) {
      evaluation = {
        appliance: rootSymbol.name,
        file: entry.source.name,
        components: result.components,
        startOrder: result.startOrder,
        imports: importsOf(program),
      };
    }
  }
  return { evaluation, diagnostics: sortDiagnostics(bag.items) };
}

/**
 * Checks a file: every object, whether or not it would run; and, when the file has one appliance (or
 * `object` names one), evaluates it too. A library file with several appliances checks each of them.
 */
export async function checkFile(path: string, options: EvaluateOptions = {}): Promise<readonly Diagnostic[]> {
  const bag = new DiagnosticBag();
  try {
    return await checkInto(bag, path, options);
  } catch (error) {
    return sortDiagnostics([...bag.items, overflowDiagnostic(error, path)]);
  }
}

async function checkInto(
  bag: DiagnosticBag,
  path: string,
  options: EvaluateOptions,
): Promise<readonly Diagnostic[]> {
  const program = await load(path, options, bag);
  const entry = program.entry;
  if (!entry) return sortDiagnostics(bag.items);
  const binder = new Binder(program, bag);
  const evaluator = new Evaluator(binder);
  for (const module of program.modules.values()) evaluator.checkModule(module);
  {
    // Evaluate even when declarations have errors: instance-level problems (missing values, unmet
    // requirements) are independent, and the binder never reports one mistake twice.
    const roots =
      options.object !== undefined
        ? [binder.selectObject(entry, options.object, undefined)]
        : binder.rootCandidates(entry);
    for (const root of roots) if (root) evaluateRoot(binder, evaluator, bag, options, root);
  }
  return sortDiagnostics(bag.items);
}
