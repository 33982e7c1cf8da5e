/**
 * Robustness of the CVL front end against hostile and broken input (property tests with fast-check):
 * random bytes, random sequences of CVL-ish tokens, and random mutations of valid files. For every input,
 * checkFile and evaluateFile must not throw, must finish within a second, and every diagnostic (and note)
 * must have a file and a span inside that file's text, and must format.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Diagnostic, formatDiagnostic } from "./diagnostics.js";
import { checkFile, evaluateFile } from "./index.js";

const testdata = fileURLToPath(new URL("./testdata/", import.meta.url));
const perCallLimitMs = 1000;
let slowest = { ms: 0, input: "" };

function assertWellFormed(diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    for (const location of [d, ...d.related]) {
      expect(location.file, `${d.code}: ${d.message}`).toBeDefined();
      const length = location.file!.text.length;
      expect(
        location.start,
        `${d.code} at ${location.start} of ${length}: ${d.message}`,
      ).toBeGreaterThanOrEqual(0);
      expect(location.start, `${d.code} at ${location.start} of ${length}: ${d.message}`).toBeLessThanOrEqual(
        length,
      );
      expect(location.length).toBeGreaterThanOrEqual(0);
    }
    expect(d.code).toMatch(/^CVL1[0-4]\d\d$/);
    expect(d.message.length).toBeGreaterThan(0);
    expect(typeof formatDiagnostic(d)).toBe("string");
  }
}

/** Runs check and evaluate on one input, timing each call. */
async function exercise(path: string, text: string | undefined): Promise<void> {
  for (const run of [
    () => checkFile(path, { text }),
    async () => (await evaluateFile(path, { text, requireComplete: true })).diagnostics,
  ]) {
    const started = performance.now();
    const diagnostics = await run();
    const ms = performance.now() - started;
    if (ms > slowest.ms) slowest = { ms, input: text ?? path };
    expect(ms, `took ${Math.round(ms)} ms on ${JSON.stringify((text ?? path).slice(0, 200))}`).toBeLessThan(
      perCallLimitMs,
    );
    assertWellFormed(diagnostics);
  }
}

const tokens = [
  'CVL = "0.8";',
  "CVL",
  "import",
  "extends",
  "var",
  '"required"',
  '"sensitive"',
  '"assigned"',
  "{",
  "}",
  "{",
  "}",
  ",",
  ";",
  ";",
  "=",
  "=>",
  ".",
  "url",
  "cvl",
  "version",
  "object",
  '"x.cvl"',
  '"../DNS"',
  '"DNS.cvl"',
  "VMAppliance",
  "ContainerAppliance",
  "VANAppliance",
  "Interface",
  "Appliance",
  "A",
  "B",
  "C",
  "a",
  "b",
  "c",
  "x",
  "ethernet0",
  "ip",
  "vanIF",
  "name",
  "image",
  "requires",
  "provides",
  '"s"',
  '"a.b"',
  '""',
  '"\\q"',
  '"',
  "\\",
  "/*",
  "*/",
  "//",
  "\n",
  "\r\n",
  " ",
  "\t",
  "@",
  "#",
  "1",
  "_",
  "é",
  "\u0000",
  "\u0007",
  "\uFEFF",
  "😀",
];

const token = fc.constantFrom(...tokens);
/** A program as a sequence of CVL-ish tokens joined by spaces or nothing. */
const tokenProgram = fc
  .tuple(fc.array(token, { maxLength: 80 }), fc.boolean())
  .map(([parts, spaced]) => parts.join(spaced ? " " : ""));

/** Well-formed-looking programs: objects with vars, components and assignments between random names. */
const name = fc.constantFrom("A", "B", "C", "D", "x", "y", "c", "d", "ethernet0", "ip", "vanIF", "name");
const rhs = fc.oneof(
  fc.constantFrom('"v"', '"f.ethernet0"', '"s"'),
  fc.array(name, { minLength: 1, maxLength: 3 }).map((p) => p.join(".")),
  fc.tuple(name, name).map(([k, v]) => `{ ${k} => ${v}, k2 => "w" }`),
);
const member = fc.oneof(
  fc.array(name, { minLength: 1, maxLength: 2 }).map((n) => `var ${n.join(", ")};`),
  fc.tuple(name, fc.array(name, { minLength: 1, maxLength: 3 })).map(([t, n]) => `${t} ${n.join(", ")};`),
  fc
    .tuple(fc.array(name, { minLength: 1, maxLength: 3 }), fc.array(rhs, { minLength: 1, maxLength: 3 }))
    .map(([target, values]) => `${target.join(".")} = ${values.join(", ")};`),
);
const object = fc
  .tuple(
    fc.constantFrom("A", "B", "C", "D"),
    fc.constantFrom("VMAppliance", "ContainerAppliance", "VANAppliance", "Interface", "A", "B", "C", "D"),
    fc.array(member, { maxLength: 6 }),
  )
  .map(([n, base, members]) => `${n} extends ${base} {\n  ${members.join("\n  ")}\n}`);
const structuredProgram = fc
  .array(object, { minLength: 1, maxLength: 5 })
  .map((objects) => `CVL = "0.8";\n${objects.join("\n")}\n`);

/** The valid files the mutations start from. */
let fixtures: Array<{ path: string; text: string }> = [];
let scratch = "";

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "cvl-fuzz-"));
  const paths = [join(testdata, "paper", "acme.cvl")];
  for (const sub of ["DNS", "Firewall", "Groupware", "OpenLDAP"])
    paths.push(join(testdata, "paper", sub, `${sub}.cvl`));
  for (const f of await readdir(join(testdata, "format")))
    if (f.endsWith(".cvl")) paths.push(join(testdata, "format", f));
  fixtures = await Promise.all(paths.map(async (path) => ({ path, text: await readFile(path, "utf8") })));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Splits text into tokens and the gaps between them, so a mutation can act on either. */
function pieces(text: string): string[] {
  return text.match(/"(?:[^"\\\n]|\\.)*"?|[A-Za-z][A-Za-z0-9_]*|=>|\/\*|\*\/|\/\/|\s+|./gsu) ?? [];
}

type Mutation = {
  op: "delete" | "insert" | "duplicate" | "swap";
  at: number;
  other: number;
  piece: string;
  unit: "token" | "char";
};
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom("delete", "insert", "duplicate", "swap"),
  at: fc.nat(),
  other: fc.nat(),
  piece: token,
  unit: fc.constantFrom("token", "char"),
});

function mutate(text: string, mutations: readonly Mutation[]): string {
  let result = text;
  for (const m of mutations) {
    const units = m.unit === "token" ? pieces(result) : [...result];
    if (units.length === 0) {
      units.push(m.piece);
    } else {
      const i = m.at % units.length;
      const j = m.other % units.length;
      if (m.op === "delete") units.splice(i, 1);
      else if (m.op === "insert") units.splice(i, 0, m.piece);
      else if (m.op === "duplicate") units.splice(i, 0, units[i]!);
      else [units[i], units[j]] = [units[j]!, units[i]!];
    }
    result = units.join("");
  }
  return result;
}

describe("the CVL front end on hostile input", () => {
  it("survives random bytes read from a file", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const path = join(scratch, `bytes-${n++ % 4}.cvl`);
        await writeFile(path, bytes);
        await exercise(path, undefined);
      }),
      { numRuns: 200 },
    );
  });

  it("survives random strings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 200 }), async (text) => {
        await exercise(join(scratch, "string.cvl"), text);
      }),
      { numRuns: 400 },
    );
  });

  it("survives random sequences of CVL tokens", async () => {
    await fc.assert(
      fc.asyncProperty(tokenProgram, async (text) => {
        await exercise(join(scratch, "tokens.cvl"), text);
      }),
      { numRuns: 800 },
    );
  });

  it("survives random programs of objects, components and assignments", async () => {
    await fc.assert(
      fc.asyncProperty(structuredProgram, async (text) => {
        await exercise(join(scratch, "objects.cvl"), text);
      }),
      { numRuns: 500 },
    );
  });

  it("survives random mutations of valid files (imports still resolve next to them)", async () => {
    const acme = fixtures[0]!;
    expect((await evaluateFile(acme.path, { text: acme.text })).evaluation).toBeDefined();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        async (which, mutations) => {
          const f = fixtures[which % fixtures.length]!;
          await exercise(f.path, mutate(f.text, mutations));
        },
      ),
      { numRuns: 1200 },
    );
  });

  it("stays well under a second per input", () => {
    expect(slowest.ms).toBeLessThan(perCallLimitMs);
  });
});
