/**
 * Golden files for CVL diagnostics: every case in testdata/diagnostics/ is checked with `cui check` (through
 * main(), with the case's directory as the working directory, so file names print as a user sees them) and
 * what it prints on stderr must equal <case>.golden byte for byte.
 *
 *   npx vitest run src/cvl/diagnostics.golden              compare
 *   UPDATE_GOLDEN=1 npx vitest run src/cvl/diagnostics.golden   rewrite the goldens (then read every diff)
 *
 * A case is a file <case>.cvl; a first line `// args: --complete` adds options to the command. Cases whose
 * input cannot live in the repository (missing files, bad bytes, huge files) are generated below into a
 * temporary directory.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { publish } from "../repo/publish.js";
import { makeRepository } from "../repo/repo-test-kit.js";
import { withdrawVersion } from "../repo/withdraw.js";
import { codes } from "./codes.js";
import { limits } from "./limits.js";

const dir = fileURLToPath(new URL("./testdata/diagnostics/", import.meta.url));
/** Codes in the table that no phase reports in this version (docs/cvl.md marks them "reserved"). */
const reserved: string[] = [];
const update = process.env.UPDATE_GOLDEN === "1";

interface Case {
  readonly name: string;
  /** Arguments after `check`. */
  readonly args: readonly string[];
  /** Working directory: the testdata directory, or a temporary one for generated cases. */
  readonly cwd: () => string;
}

let generated = "";

/** Cases whose input is made by the test: a missing file, a directory, bytes that are not UTF-8, huge inputs. */
const generatedCases: ReadonlyArray<Case & { make?: (at: string) => Promise<void> }> = [
  { name: "read-missing-file", args: ["no-such-file.cvl"], cwd: () => dir },
  {
    // A repository whose version 1 is withdrawn, imported pinned to it: a warning (CVL1307), no error.
    name: "import-withdrawn-version",
    args: ["withdrawn/site.cvl"],
    cwd: () => generated,
    make: async (at) => {
      const base = join(at, "withdrawn");
      await mkdir(base);
      const { repo, keyPath } = await makeRepository(base);
      const cvlPath = join(base, "net.cvl");
      await writeFile(cvlPath, 'CVL = "0.8";\nNet extends VANAppliance { }\n');
      for (let n = 0; n < 2; n++) await publish({ repoDir: repo, cvlPath, keyPath });
      await withdrawVersion(repo, 1, keyPath, "leaks memory");
      await writeFile(
        join(base, "site.cvl"),
        'CVL = "0.8";\nimport { url => "repo", version => "1" } Net;\nSite extends Net { }\n',
      );
    },
  },
  { name: "read-directory", args: ["imports"], cwd: () => dir },
  {
    name: "read-dangling-symlink",
    args: ["dangling.cvl"],
    cwd: () => generated,
    make: (at) => symlink("nowhere/target.cvl", join(at, "dangling.cvl")),
  },
  {
    name: "read-invalid-utf8",
    args: ["invalid-utf8.cvl"],
    cwd: () => generated,
    make: (at) =>
      writeFile(
        join(at, "invalid-utf8.cvl"),
        Buffer.concat([
          Buffer.from('CVL = "0.8";\nWeb extends ContainerAppliance {\n  image = "caf'),
          Buffer.from([0xe9]), // "é" in Latin-1: not UTF-8
          Buffer.from('.tar";\n}\n'),
        ]),
      ),
  },
  {
    name: "read-too-large",
    args: ["too-large.cvl"],
    cwd: () => generated,
    make: (at) => writeFile(join(at, "too-large.cvl"), `CVL = "0.8";\n/*${" ".repeat(limits.fileBytes)}*/\n`),
  },
  {
    name: "scan-string-too-long",
    args: ["long-string.cvl"],
    cwd: () => generated,
    make: (at) =>
      writeFile(
        join(at, "long-string.cvl"),
        `CVL = "0.8";\nWeb extends ContainerAppliance {\n  image = "${"x".repeat(limits.stringLength + 1)}";\n}\n`,
      ),
  },
  {
    name: "limit-reference-depth",
    args: ["reference-chain.cvl"],
    cwd: () => generated,
    make: (at) => {
      const names = Array.from({ length: limits.nesting + 5 }, (_, i) => `x${i}`);
      const body = names.map((n, i) => `  ${n} = ${names[i + 1] ?? '"end"'};`).join("\n");
      return writeFile(
        join(at, "reference-chain.cvl"),
        `CVL = "0.8";\nWeb extends ContainerAppliance {\n  var ${names.join(", ")};\n  image = "w.tar";\n  command = x0;\n${body}\n}\n`,
      );
    },
  },
  {
    name: "limit-component-depth",
    args: ["deep-vans.cvl"],
    cwd: () => generated,
    make: (at) => {
      const vans = Array.from(
        { length: limits.nesting + 1 },
        (_, i) => `V${i + 1} extends VANAppliance { V${i} v; vanIF = "v.ethernet0"; }`,
      );
      return writeFile(
        join(at, "deep-vans.cvl"),
        `CVL = "0.8";\nV0 extends ContainerAppliance { image = "x"; }\n${vans.join("\n")}\n`,
      );
    },
  },
];

async function fileCases(): Promise<Case[]> {
  const names = (await readdir(dir)).filter((f) => f.endsWith(".cvl")).sort();
  const cases: Case[] = [];
  for (const file of names) {
    const text = await readFile(join(dir, file), "utf8");
    const header = /^\/\/ args:(.*)$/m.exec(text.split("\n", 1)[0] ?? "");
    const options = header ? header[1]!.trim().split(/\s+/).filter(Boolean) : [];
    cases.push({ name: file.slice(0, -4), args: [...options, file], cwd: () => dir });
  }
  return cases;
}

const cases = [...(await fileCases()), ...generatedCases];

beforeAll(async () => {
  generated = await mkdtemp(join(tmpdir(), "cvl-golden-"));
  for (const c of generatedCases) if (c.make) await c.make(generated);
});

afterAll(async () => {
  if (generated) await rm(generated, { recursive: true, force: true });
});

describe("CVL diagnostics golden files", () => {
  it("has enough cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const run = await runCui(["check", ...c.args], c.cwd());
      const goldenPath = join(dir, `${c.name}.golden`);
      if (update) await writeFile(goldenPath, run.stderr);
      const golden = await readFile(goldenPath, "utf8");
      expect(run.stderr).toBe(golden);
      // The exit status follows the summary line; nothing goes to stdout; no stack trace ever.
      const errors = Number(/: (\d+) errors?, /.exec(run.stderr)?.[1] ?? Number.NaN);
      expect(run.status).toBe(errors > 0 ? 1 : 0);
      expect(run.stdout).toBe("");
      expect(run.stderr).not.toMatch(/internal error|\n\s+at /);
    });
  }

  it("covers every code of codes.ts at least once, except the reserved ones", async () => {
    const seen = new Set<string>();
    const goldens = (await readdir(dir)).filter((f) => f.endsWith(".golden"));
    const texts = await Promise.all(goldens.map((f) => readFile(join(dir, f), "utf8")));
    for (const text of texts)
      for (const m of text.matchAll(/ (?:error|warning) (CVL\d{4}):/g)) seen.add(m[1]!);
    const missing = Object.keys(codes).filter((code) => !seen.has(code) && !reserved.includes(code));
    expect(missing).toEqual([]);
    // A reserved code is one nothing reports yet (docs/cvl.md says so): once some phase reports it, it
    // needs a golden case here and must leave this list.
    const sources = (await readdir(join(dir, "..", ".."))).filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
    );
    for (const file of sources.filter((f) => f !== "codes.ts")) {
      const text = await readFile(join(dir, "..", "..", file), "utf8");
      for (const code of reserved) expect(text.includes(`"${code}"`), `${file} reports ${code}`).toBe(false);
    }
  });
});
