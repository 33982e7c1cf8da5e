import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { createSourceFile, DiagnosticBag, formatDiagnostic } from "./diagnostics.js";
import { formatCvl, syntaxShape } from "./format.js";
import { parse } from "./parser.js";
import { scan } from "./scanner.js";
import { TokenKind } from "./tokens.js";

const dir = fileURLToPath(new URL("testdata/format/", import.meta.url));
/** UPDATE_GOLDEN=1 npx vitest run src/cvl/format rewrites the expected files from the actual output. */
const update = process.env.UPDATE_GOLDEN === "1";

function format(text: string, name = "test.cvl"): string {
  const result = formatCvl(createSourceFile(name, text));
  if (result.text === undefined)
    throw new Error(result.diagnostics.map((d) => formatDiagnostic(d)).join("\n"));
  return result.text;
}

function shape(text: string): unknown {
  const bag = new DiagnosticBag();
  const file = parse(createSourceFile("t.cvl", text), bag);
  expect(bag.items).toEqual([]);
  return syntaxShape(file);
}

function commentsOf(text: string): string[] {
  return scan(createSourceFile("t.cvl", text), new DiagnosticBag(), { keepComments: true })
    .filter((t) => t.kind === TokenKind.LineComment || t.kind === TokenKind.BlockComment)
    .map((t) => t.value.replace(/\r\n?/g, "\n").replace(/[ \t]+$/gm, ""));
}

/** What every formatted text must satisfy, whatever the input. */
function expectCanonical(input: string, output: string): void {
  expect(format(output)).toBe(output);
  expect(shape(output)).toEqual(shape(input));
  expect(commentsOf(output)).toEqual(commentsOf(input));
  // Layout, outside block comments (whose text is the author's, blank lines and all):
  const layout = blockCommentsFolded(output);
  expect(layout).not.toMatch(/[ \t]$/m);
  expect(layout).not.toMatch(/\r|\n\n\n|^\n/);
  if (output !== "") expect(layout).toMatch(/[^\n]\n$/);
}

/** The text with each block comment replaced by one on a single line. */
function blockCommentsFolded(text: string): string {
  const tokens = scan(createSourceFile("t.cvl", text), new DiagnosticBag(), { keepComments: true });
  let out = "";
  let at = 0;
  for (const t of tokens.filter((t) => t.kind === TokenKind.BlockComment)) {
    out += `${text.slice(at, t.start)}/**/`;
    at = t.end;
  }
  return out + text.slice(at);
}

describe("golden files (testdata/format/<case>.in.cvl → <case>.out.cvl or <case>.err.txt)", () => {
  const cases = readdirSync(dir)
    .filter((n) => n.endsWith(".in.cvl"))
    .map((n) => n.slice(0, -".in.cvl".length))
    .sort();

  test("there are enough cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(12);
  });

  test.each(cases)("%s", (name) => {
    const input = readFileSync(join(dir, `${name}.in.cvl`), "utf8");
    const result = formatCvl(createSourceFile(`${name}.in.cvl`, input));
    const [expectedFile, actual] =
      result.text === undefined
        ? [`${name}.err.txt`, `${result.diagnostics.map((d) => formatDiagnostic(d)).join("\n")}\n`]
        : [`${name}.out.cvl`, result.text];
    const path = join(dir, expectedFile);
    if (update) writeFileSync(path, actual);
    expect(existsSync(path), `${expectedFile} is missing (run with UPDATE_GOLDEN=1 to create it)`).toBe(true);
    expect(actual).toBe(readFileSync(path, "utf8"));
    if (result.text !== undefined) expectCanonical(input, result.text);
  });
});

describe("layout rules", () => {
  test.each([
    [
      "spaces around = and =>, after ',', none before ';'",
      'A{x=y ,z ;m={k=>"v" ,j=>w} ;}',
      'A {\n  x = y, z;\n  m = { k => "v", j => w };\n}\n',
    ],
    ["extends and braces", "A   extends\nB\n{\nvar x ;}", "A extends B {\n  var x;\n}\n"],
    ["attributes", 'A { var "required"  "sensitive" x,y; }', 'A {\n  var "required" "sensitive" x, y;\n}\n'],
    ["an empty body", "A extends B {   }", "A extends B {}\n"],
    [
      "one blank line between top-level statements",
      'CVL = "0.8"; A {} B {}',
      'CVL = "0.8";\n\nA {}\n\nB {}\n',
    ],
    ["no blank line after '{' or before '}'", "A {\n\n  var x;\n\n}\n", "A {\n  var x;\n}\n"],
    ["a trailing comma in a map is dropped", 'A { m = { k => "v", }; }', 'A {\n  m = { k => "v" };\n}\n'],
    ["dotted names are written tight", "A { a . b = c . d ; }", "A {\n  a.b = c.d;\n}\n"],
    [
      "string keys stay strings, name keys names",
      'A { m = { "k" => "v", k => "v" }; }',
      'A {\n  m = { "k" => "v", k => "v" };\n}\n',
    ],
    ["canonical escapes", 'A { s = "a\tb\\tc\\"d\\\\e\\nf"; }', 'A {\n  s = "a\\tb\\tc\\"d\\\\e\\nf";\n}\n'],
    [
      "CRLF and lone CR line ends become LF",
      "A {\r\n  var x;\r\r  var y;\r\n}\r\n",
      "A {\n  var x;\n\n  var y;\n}\n",
    ],
    ["an empty file stays empty", "\n\n  \n", ""],
  ])("%s", (_, input, expected) => {
    const output = format(input);
    expect(output).toBe(expected);
    expectCanonical(input, output);
  });
});

describe("comments", () => {
  test.each([
    [
      "a comment before ',' moves after it",
      'A { x = "1" // one\n, "2"; }',
      'A {\n  x =\n    "1", // one\n    "2";\n}\n',
    ],
    ["a comment before ';' moves after it", 'A { x = "1" // one\n; }', 'A {\n  x = "1"; // one\n}\n'],
    [
      "a trailing comment on a map's comma breaks the map",
      'A { m = { a => "1", // c\n b => "2" }; }',
      'A {\n  m = {\n    a => "1", // c\n    b => "2"\n  };\n}\n',
    ],
    [
      "an own-line comment inside a map",
      'A { m = { a => "1",\n// c\n b => "2" }; }',
      'A {\n  m = {\n    a => "1",\n    // c\n    b => "2"\n  };\n}\n',
    ],
    [
      "an own-line comment before '}' of a map",
      'A { m = { a => "1"\n// c\n}; }',
      'A {\n  m = {\n    a => "1"\n    // c\n  };\n}\n',
    ],
    [
      "an own-line comment inside a statement is indented",
      "A { x =\n// c\ny; }",
      "A {\n  x =\n    // c\n    y;\n}\n",
    ],
    [
      "an inline block comment stays inline",
      "A { x /* a */ = /* b */ y; }",
      "A {\n  x /* a */ = /* b */ y;\n}\n",
    ],
    [
      "a trailing comma's comment is kept",
      'A { m = { a => "1", // c\n}; }',
      'A {\n  m = {\n    a => "1" // c\n  };\n}\n',
    ],
    [
      "a comment on a line of its own after a moved ','",
      'A { x = "1" // one\n, // two\n "2"; }',
      'A {\n  x =\n    "1", // one\n    // two\n    "2";\n}\n',
    ],
    [
      "comment text is kept byte for byte, but for trailing blanks",
      "/*  a\n\t b  \n*/\nA {} // x  \t",
      "/*  a\n\t b\n*/\nA {} // x\n",
    ],
    ["a comment at the end of the file gets a blank line before it", "A {}\n// end", "A {}\n\n// end\n"],
    ["a trailing comment at the end of the file stays", "A {} // end", "A {} // end\n"],
    ["an unterminated-looking line comment at EOF without newline", "// only", "// only\n"],
    ["a body with only a trailing comment", "A { // c\n}", "A { // c\n}\n"],
  ])("%s", (_, input, expected) => {
    const output = format(input);
    expect(output).toBe(expected);
    expectCanonical(input, output);
  });
});

describe("a file with syntax errors", () => {
  test("is not formatted; its errors are returned", () => {
    const result = formatCvl(createSourceFile("bad.cvl", "A {\n  var x\n}\n"));
    expect(result.text).toBeUndefined();
    expect(result.diagnostics.map((d) => d.code)).toEqual(["CVL1101"]);
  });

  test.each([
    ["an unterminated string", 'A { x = "abc; }'],
    ["an unterminated block comment", "A {} /* never closed"],
    ["an unknown escape", 'A { x = "\\q"; }'],
    ["an empty map", "A { x = {}; }"],
    ["a stray character", "A { x = y; } @"],
  ])("%s", (_, input) => {
    const result = formatCvl(createSourceFile("bad.cvl", input));
    expect(result.text).toBeUndefined();
    expect(result.diagnostics.length).toBeGreaterThan(0);
    expect(result.diagnostics.every((d) => d.severity === "error")).toBe(true);
  });
});

// ---- property: random valid programs, laid out at random, with comments anywhere ----

const keywordNames = new Set(["var", "import", "extends"]);
const name = fc
  .oneof(
    { weight: 5, arbitrary: fc.constantFrom("a", "b", "ip", "domain", "eth0", "d", "l", "f", "x_1", "Web") },
    { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,10}$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{25,50}$/) },
  )
  .filter((n) => !keywordNames.has(n));

/** A string literal as source text: escapes, raw tabs, non-ASCII, characters that look like syntax. */
const stringLiteral = fc
  .array(
    fc.constantFrom(
      "a",
      "Z",
      "0",
      " ",
      '\\"',
      "\\\\",
      "\\n",
      "\\t",
      "\t",
      "é",
      "🚀",
      "{",
      "}",
      ";",
      ",",
      "=>",
      "//",
      "/*",
      "*/",
    ),
    {
      maxLength: 30,
    },
  )
  .map((pieces) => `"${pieces.join("")}"`);

const lineComment = fc
  .array(fc.constantFrom("x", " ", "\t", "//", "/*", "*/", '"', "{", "é"), { maxLength: 8 })
  .map((p) => `//${p.join("")}\n`);
const blockComment = fc
  .array(fc.constantFrom("x", " ", "\t", "\n", "\r\n", "*", "//", '"', "}", "é", "  \n"), { maxLength: 8 })
  .map((p) => `/*${p.join("")}*/`)
  .filter((c) => !c.slice(2, -2).includes("*/") && !c.slice(2).startsWith("/"));

/** What goes between two tokens: usually a space, sometimes line breaks, tabs and comments. */
const separator = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(" ", "") },
      { weight: 3, arbitrary: fc.constantFrom("\n", "\r\n", "\n\n\n", "\t", "  ", "\r") },
      { weight: 1, arbitrary: lineComment },
      { weight: 1, arbitrary: blockComment },
    ),
    { maxLength: 3 },
  )
  .map((parts) => parts.join(""));

type Tokens = string[];
const joinList = (items: Tokens[]): Tokens => items.flatMap((t, i) => (i === 0 ? t : [",", ...t]));
const dotted = fc
  .array(name, { minLength: 1, maxLength: 3 })
  .map((parts) => parts.flatMap((p, i) => (i === 0 ? [p] : [".", p])));

const { rhs } = fc.letrec<{ rhs: Tokens; map: Tokens }>((tie) => ({
  rhs: fc.oneof(
    { depthSize: "small" },
    stringLiteral.map((s) => [s]),
    dotted,
    tie("map"),
  ),
  map: fc
    .tuple(
      fc.array(fc.tuple(fc.oneof(name, stringLiteral), tie("rhs")), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
    )
    .map(([pairs, trailingComma]) => [
      "{",
      ...joinList(pairs.map(([k, v]) => [k, "=>", ...v])),
      ...(trailingComma ? [","] : []),
      "}",
    ]),
}));

const assignment = fc
  .tuple(dotted, fc.array(rhs, { minLength: 1, maxLength: 4 }))
  .map(([target, values]) => [...target, "=", ...joinList(values), ";"]);
const varDecl = fc
  .tuple(
    fc.array(fc.constantFrom('"required"', '"sensitive"'), { maxLength: 2 }),
    fc.array(name, { minLength: 1, maxLength: 4 }),
  )
  .map(([attributes, names]) => ["var", ...attributes, ...joinList(names.map((n) => [n])), ";"]);
const component = fc
  .tuple(name, fc.array(name, { minLength: 1, maxLength: 3 }))
  .map(([type, names]) => [type, ...joinList(names.map((n) => [n])), ";"]);
const object = fc
  .tuple(name, fc.option(name), fc.array(fc.oneof(varDecl, component, assignment), { maxLength: 6 }))
  .map(([n, base, members]) => [n, ...(base ? ["extends", base] : []), "{", ...members.flat(), "}"]);
const importStmt = fc
  .tuple(
    rhs.filter((t) => t[0] === "{"),
    name,
  )
  .map(([map, n]) => ["import", ...map, n, ";"]);

const programTokens = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: object },
      { weight: 1, arbitrary: assignment },
      { weight: 1, arbitrary: importStmt },
    ),
    {
      maxLength: 5,
    },
  )
  .map((statements) => statements.flat());

/** A program's tokens with separators between them, drawn as a short list used in turn (this shrinks well). */
const program = fc
  .tuple(programTokens, fc.array(separator, { minLength: 1, maxLength: 40 }))
  .map(([tokens, seps]) => {
    let text = seps[0]!;
    tokens.forEach((t, i) => {
      const sep = seps[(i + 1) % seps.length]!;
      const next = tokens[i + 1];
      // Two words need something between them.
      text += t + (sep === "" && next && /\w$/.test(t) && /^\w/.test(next) ? " " : sep);
    });
    return text;
  });

/** FMT_RUNS=20000 npx vitest run src/cvl/format for a longer search. */
const runs = Number(process.env.FMT_RUNS ?? 400);

describe("property: any valid program", () => {
  test(
    "formats idempotently, keeping its meaning and its comments",
    () => {
      fc.assert(
        fc.property(program, (input) => {
          const result = formatCvl(createSourceFile("p.cvl", input));
          expect(result.diagnostics.map((d) => formatDiagnostic(d))).toEqual([]);
          expectCanonical(input, result.text!);
        }),
        { numRuns: runs },
      );
    },
    60_000 + runs * 20,
  );
});
