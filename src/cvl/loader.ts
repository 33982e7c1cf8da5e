/**
 * Loads a CVL file and, transitively, the files it imports, through an ImportResolver. Every problem is a
 * diagnostic at the import statement that caused it, with the import chain as notes; nothing throws.
 */

import { readFileSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readRegularFile } from "../fs-safety/regular-file.js";
import type { CvlFile, ImportStatement, Rhs } from "./ast.js";
import {
  createSourceFile,
  type DiagnosticBag,
  type RelatedInformation,
  type SourceFile,
} from "./diagnostics.js";
import { limits } from "./limits.js";
import { parse } from "./parser.js";
import {
  displayNameOf,
  ImportFailure,
  type ImportOrigin,
  type ImportRequest,
  type ImportResolver,
} from "./resolver.js";
import { didYouMean } from "./suggest.js";

export interface Module {
  /** Canonical identity (absolute path or URL). */
  readonly location: string;
  readonly source: SourceFile;
  readonly ast: CvlFile;
  readonly origin: ImportOrigin | undefined;
  readonly imports: ImportBinding[];
  readonly isPrelude: boolean;
}

/** What readRegularFile refuses (a directory, FIFO or device), for loadFile's message. */
class NotRegular extends Error {
  constructor(readonly kind: string) {
    super(kind);
  }
}

export interface ImportBinding {
  readonly statement: ImportStatement;
  readonly name: string;
  readonly module: Module;
  /** The import's `object => "Name"`, or else the object its repository version was published as. */
  readonly objectName: string | undefined;
  /** The resolved request (what a later `cui update` re-resolves). */
  readonly request: ImportRequest;
}

export interface LoadedProgram {
  readonly entry: Module | undefined;
  readonly prelude: Module;
  readonly modules: ReadonlyMap<string, Module>;
}

const importKeys = ["url", "cvl", "version", "object", "key"] as const;

/** Decodes bytes as UTF-8 source, with the size limit; reports and returns undefined when it cannot. */
export function decodeSource(
  bytes: Uint8Array,
  name: string,
  diagnostics: DiagnosticBag,
  blame?: RelatedInformation,
): SourceFile | undefined {
  const related = blame ? [blame] : [];
  if (bytes.length > limits.fileBytes) {
    diagnostics.add(
      "CVL1003",
      { file: createSourceFile(name, ""), start: 0, length: 0 },
      `the file is ${bytes.length} bytes; CVL files may have at most ${limits.fileBytes} bytes`,
      related,
    );
    return undefined;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const lossy = new TextDecoder("utf-8").decode(bytes);
    const file = createSourceFile(name, lossy);
    const at = Math.max(0, lossy.indexOf("\uFFFD"));
    diagnostics.add(
      "CVL1002",
      { file, start: at, length: 1 },
      "the file is not valid UTF-8 (first bad byte here); save it as UTF-8",
      related,
    );
    return undefined;
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return createSourceFile(name, text);
}

let preludeSource: SourceFile | undefined;

function loadPrelude(diagnostics: DiagnosticBag): Module {
  if (!preludeSource) {
    const path = fileURLToPath(new URL("./prelude.cvl", import.meta.url));
    preludeSource = createSourceFile("<prelude>", readFileSync(path, "utf8"));
  }
  const ast = parse(preludeSource, diagnostics);
  return {
    location: "<prelude>",
    source: preludeSource,
    ast,
    origin: undefined,
    imports: [],
    isPrelude: true,
  };
}

function stringValue(rhs: Rhs): string | undefined {
  return rhs.kind === "String" ? rhs.value : undefined;
}

export class ProgramLoader {
  private readonly modules = new Map<string, Module>();
  /** Locations being loaded, outermost first: an import of one of these is a cycle. */
  private readonly stack: Array<{ location: string; statement?: ImportStatement; source?: SourceFile }> = [];

  constructor(
    private readonly resolver: ImportResolver,
    private readonly diagnostics: DiagnosticBag,
  ) {}

  /** Loads the entry file from disk (a path), then its imports. */
  async loadFile(path: string): Promise<LoadedProgram> {
    const location = resolve(path);
    const prelude = loadPrelude(this.diagnostics);
    let bytes: Uint8Array;
    try {
      // Not a plain readFile: a FIFO would wait for a writer forever, and /dev/zero never ends.
      bytes = await readRegularFile(location, (kind) => new NotRegular(kind));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const link = code === "ENOENT" ? await readlink(location).catch(() => undefined) : undefined;
      const reason =
        code === "ENOENT"
          ? link === undefined
            ? "no such file"
            : `it is a symbolic link to ${link}, which does not exist`
          : error instanceof NotRegular
            ? `it is ${error.kind}, not a CVL file`
            : code === "EACCES"
              ? "permission denied"
              : (code ?? String(error));
      this.diagnostics.add(
        "CVL1001",
        { file: createSourceFile(displayNameOf(location), ""), start: 0, length: 0 },
        `cannot read the file: ${reason}`,
      );
      return { entry: undefined, prelude, modules: this.modules };
    }
    const entry = await this.loadModule(location, displayNameOf(location), bytes, undefined, undefined);
    return { entry, prelude, modules: this.modules };
  }

  /** Loads source text given directly (tests, stdin). */
  async loadText(name: string, text: string): Promise<LoadedProgram> {
    const prelude = loadPrelude(this.diagnostics);
    const entry = await this.loadModule(
      resolve(name),
      name,
      new TextEncoder().encode(text),
      undefined,
      undefined,
    );
    return { entry, prelude, modules: this.modules };
  }

  private async loadModule(
    location: string,
    displayName: string,
    bytes: Uint8Array,
    origin: ImportOrigin | undefined,
    blame: RelatedInformation | undefined,
  ): Promise<Module | undefined> {
    const source = decodeSource(bytes, displayName, this.diagnostics, blame);
    if (!source) return undefined;
    const ast = parse(source, this.diagnostics);
    const module: Module = { location, source, ast, origin, imports: [], isPrelude: false };
    this.modules.set(location, module);
    this.stack.push({ location, source });
    for (const statement of ast.statements) {
      if (statement.kind !== "Import") continue;
      const binding = await this.loadImport(module, statement);
      if (binding) module.imports.push(binding);
    }
    this.stack.pop();
    return module;
  }

  private chainNotes(): RelatedInformation[] {
    const notes: RelatedInformation[] = [];
    for (let i = this.stack.length - 1; i > 0; i--) {
      const frame = this.stack[i]!;
      const parent = this.stack[i - 1]!;
      if (frame.statement && parent.source) {
        notes.push({
          file: parent.source,
          start: frame.statement.pos,
          length: 6,
          message: `${frame.source?.name ?? frame.location} is imported from here`,
        });
      }
    }
    return notes;
  }

  private async loadImport(importer: Module, statement: ImportStatement): Promise<ImportBinding | undefined> {
    const file = importer.source;
    const at = { file, start: statement.pos, length: 6 };
    const values: Partial<Record<(typeof importKeys)[number], string>> = {};
    let ok = true;
    for (const pair of statement.map.pairs) {
      const key = pair.key.kind === "Name" ? pair.key.text : pair.key.value;
      if (!(importKeys as readonly string[]).includes(key)) {
        this.diagnostics.add(
          "CVL1304",
          { file, start: pair.key.pos, length: pair.key.end - pair.key.pos },
          `'${key}' is not an import key; the keys are ${importKeys.join(", ")}.${didYouMean(key, importKeys)}`,
        );
        ok = false;
        continue;
      }
      const value = stringValue(pair.value);
      if (value === undefined) {
        this.diagnostics.add(
          "CVL1305",
          { file, start: pair.value.pos, length: pair.value.end - pair.value.pos },
          `the import's ${key} must be a "string" (imports are resolved before any parameter has a value)`,
        );
        ok = false;
        continue;
      }
      values[key as (typeof importKeys)[number]] = value;
    }
    if (values.url === undefined) {
      if (ok) {
        this.diagnostics.add(
          "CVL1304",
          at,
          `this import has no url => "..." saying where ${statement.name.text} comes from`,
        );
      }
      return undefined;
    }
    if (!ok) return undefined;
    if (values.url.trim() === "") {
      // Resolved as a path, "" is the importing file's own directory: a confusing error far from the cause.
      this.diagnostics.add(
        "CVL1304",
        at,
        `the url of ${statement.name.text} is empty; say where it comes from: a repository's URL (https://..., file:///...) or a path`,
      );
      return undefined;
    }
    if (values.version !== undefined && !/^[1-9][0-9]{0,8}$/.test(values.version)) {
      this.diagnostics.add(
        "CVL1305",
        at,
        `version => "${values.version}" is not a version number; versions are 1, 2, 3, ... (leave it out for the latest)`,
      );
      return undefined;
    }
    const request: ImportRequest = {
      url: values.url,
      cvl: values.cvl,
      version: values.version,
      object: values.object,
      key: values.key,
      importer: importer.location,
    };
    if (this.stack.length > limits.importDepth) {
      this.diagnostics.add(
        "CVL1301",
        at,
        `imports nest more than ${limits.importDepth} deep`,
        this.chainNotes(),
      );
      return undefined;
    }
    let resolved: Awaited<ReturnType<ImportResolver["resolve"]>>;
    try {
      resolved = await this.resolver.resolve(request);
    } catch (error) {
      const reason = error instanceof ImportFailure || error instanceof Error ? error.message : String(error);
      this.diagnostics.add(
        "CVL1301",
        at,
        `cannot import ${statement.name.text} from "${values.url}": ${reason}`,
        this.chainNotes(),
      );
      return undefined;
    }
    const onStack = this.stack.findIndex((frame) => frame.location === resolved.location);
    if (onStack >= 0) {
      const cycle = [
        ...this.stack.slice(onStack).map((f) => f.source?.name ?? f.location),
        resolved.displayName,
      ];
      this.diagnostics.add("CVL1302", at, `imports form a cycle: ${cycle.join(" -> ")}`, this.chainNotes());
      return undefined;
    }
    let module = this.modules.get(resolved.location);
    if (!module) {
      const errorsBefore = this.diagnostics.errorCount;
      const blame = {
        file,
        start: statement.pos,
        length: 6,
        message: `imported as ${statement.name.text} here`,
      };
      module = await this.loadImported(resolved, statement, blame);
      // A file that cannot be decoded (not UTF-8, too large) has no module, and its error is in it.
      if (!module || this.diagnostics.errorCount > errorsBefore) {
        this.diagnostics.add(
          "CVL1306",
          at,
          `${resolved.displayName}, imported as ${statement.name.text}, has errors (listed under its name); fix them or import another version`,
        );
        return undefined;
      }
    }
    if (resolved.withdrawn !== undefined) {
      const why = resolved.withdrawn === "" ? "" : ` (${JSON.stringify(resolved.withdrawn)})`;
      this.diagnostics.add(
        "CVL1307",
        at,
        `version ${values.version} of ${statement.name.text} is withdrawn by its publisher${why}; cui start refuses it: pin another version, or leave version out for the newest that is not withdrawn`,
        [],
        "warning",
      );
    }
    const objectName = values.object ?? resolved.object;
    return { statement, name: statement.name.text, module, objectName, request };
  }

  private async loadImported(
    resolved: Awaited<ReturnType<ImportResolver["resolve"]>>,
    statement: ImportStatement,
    blame: RelatedInformation,
  ): Promise<Module | undefined> {
    // The frame for the imported file records which statement brought it in (for chain notes).
    const source = decodeSource(resolved.bytes, resolved.displayName, this.diagnostics, blame);
    if (!source) return undefined;
    const ast = parse(source, this.diagnostics);
    const module: Module = {
      location: resolved.location,
      source,
      ast,
      origin: resolved.origin,
      imports: [],
      isPrelude: false,
    };
    this.modules.set(resolved.location, module);
    this.stack.push({ location: resolved.location, statement, source });
    for (const s of ast.statements) {
      if (s.kind !== "Import") continue;
      const binding = await this.loadImport(module, s);
      if (binding) module.imports.push(binding);
    }
    this.stack.pop();
    return module;
  }
}
