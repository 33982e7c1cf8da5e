/**
 * `cui check` and `cui eval` on input that is broken on purpose: files that cannot be read, bytes that are
 * not UTF-8, files over the size limit, absurd nesting and lengths. Each must give a clear coded
 * diagnostic, exit status 1, bounded output, and never a stack trace.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limits } from "../cvl/limits.js";
import { type CliRun, runCui } from "./run-in-process.js";

let dir = "";

function cui(...args: string[]): Promise<CliRun> {
  return runCui(args, dir);
}

const web = (body: string) =>
  `CVL = "0.8";\nWeb extends ContainerAppliance {\n  image = "nginx.tar";\n${body}\n}\n`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cui-bad-input-"));
  await mkdir(join(dir, "a-directory.cvl"));
  await symlink("missing/target.cvl", join(dir, "dangling.cvl"));
  await writeFile(join(dir, "latin1.cvl"), Buffer.from(web('  restart = "d\xe9j\xe0";'), "latin1"));
  await writeFile(join(dir, "utf16.cvl"), Buffer.from(`\ufeff${web("")}`, "utf16le"));
  await writeFile(join(dir, "huge.cvl"), Buffer.alloc(limits.fileBytes + 1, 0x20));
  await writeFile(
    join(dir, "deep-maps.cvl"),
    web(`  healthcheck = ${"{ k => ".repeat(100_000)}"x"${" }".repeat(100_000)};`),
  );
  await writeFile(join(dir, "open-maps.cvl"), web(`  healthcheck = ${"{ k => ".repeat(100_000)}`));
  await writeFile(join(dir, "long-name.cvl"), web(`  var ${"n".repeat(1_000_000)};`));
  await writeFile(join(dir, "long-string.cvl"), web(`  command = "${"s".repeat(5_000_000)}";`));
  await writeFile(join(dir, "long-line.cvl"), web(`  command = ${'"a", '.repeat(200_000)}@;`));
  const names = Array.from({ length: 5000 }, (_, i) => `x${i}`);
  await writeFile(
    join(dir, "reference-chain.cvl"),
    web(
      `  var ${names.join(", ")};\n${names.map((n, i) => `  ${n} = ${names[i + 1] ?? '"end"'};`).join("\n")}`,
    ),
  );
  await writeFile(join(dir, "nul.cvl"), web("\0\0\0"));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("cui check on bad input", () => {
  const cases: Array<{ file: string; code: string; says: RegExp }> = [
    {
      file: "a-directory.cvl",
      code: "CVL1001",
      says: /a-directory\.cvl: error CVL1001: cannot read the file: it is a directory/,
    },
    {
      file: "dangling.cvl",
      code: "CVL1001",
      says: /dangling\.cvl: error CVL1001: .*symbolic link to missing\/target\.cvl, which does not exist/,
    },
    {
      file: "no-such.cvl",
      code: "CVL1001",
      says: /no-such\.cvl: error CVL1001: cannot read the file: no such file/,
    },
    {
      file: "latin1.cvl",
      code: "CVL1002",
      says: /latin1\.cvl:4:15: error CVL1002: the file is not valid UTF-8/,
    },
    {
      file: "utf16.cvl",
      code: "CVL1002",
      says: /utf16\.cvl:1:1: error CVL1002: the file is not valid UTF-8/,
    },
    {
      file: "huge.cvl",
      code: "CVL1003",
      says: /huge\.cvl: error CVL1003: the file is 16777217 bytes; CVL files may have at most 16777216/,
    },
    {
      file: "deep-maps.cvl",
      code: "CVL1103",
      says: /deep-maps\.cvl:4:\d+: error CVL1103: maps nest more than 32 deep/,
    },
    { file: "open-maps.cvl", code: "CVL1103", says: /error CVL1103: maps nest more than 32 deep/ },
    {
      file: "long-name.cvl",
      code: "CVL1007",
      says: /long-name\.cvl:4:7: error CVL1007: this name is 1000000 characters long; names may have at most 256/,
    },
    {
      file: "long-string.cvl",
      code: "CVL1008",
      says: /long-string\.cvl:4:13: error CVL1008: this string is 5000000 characters long/,
    },
    {
      file: "long-line.cvl",
      code: "CVL1006",
      says: /long-line\.cvl:4:\d+: error CVL1006: the character '@' cannot start a token/,
    },
    {
      file: "reference-chain.cvl",
      code: "CVL1218",
      says: /error CVL1218: references nest more than 1000 deep/,
    },
    {
      file: "nul.cvl",
      code: "CVL1010",
      says: /nul\.cvl:4:1: error CVL1010: the control character U\+0000 is not allowed/,
    },
  ];
  for (const c of cases) {
    it(`${c.file}: ${c.code}, exit status 1, no stack trace`, async () => {
      const started = performance.now();
      const run = await cui("check", c.file);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(c.says);
      expect(run.stderr).toMatch(/\n1 file checked: [1-9]\d* errors?, \d+ warnings?\n$/);
      expect(run.stderr).not.toMatch(/internal error|Error:|\n\s+at \S+ \(/);
      // Excerpts of absurd lines are cut to a window: the output stays readable.
      for (const line of run.stderr.split("\n")) expect(line.length).toBeLessThan(400);
    });
  }

  it("--json reports the same diagnostics as JSON on stdout", async () => {
    const run = await cui("check", "--json", "latin1.cvl", "a-directory.cvl");
    expect(run.status).toBe(1);
    const json = JSON.parse(run.stdout) as {
      errors: number;
      diagnostics: Array<{ code: string; file: string }>;
    };
    expect(json.errors).toBe(2);
    expect(json.diagnostics.map((d) => [d.file, d.code])).toEqual([
      ["latin1.cvl", "CVL1002"],
      ["a-directory.cvl", "CVL1001"],
    ]);
  });

  it("cui eval on a file it cannot read says so and exits 1", async () => {
    const run = await cui("eval", "a-directory.cvl");
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(
      "a-directory.cvl: error CVL1001: cannot read the file: it is a directory, not a CVL file",
    );
    expect(run.stderr).toContain("error: a-directory.cvl has 1 error; nothing evaluated");
    expect(run.stderr).not.toMatch(/internal error|\n\s+at \S+ \(/);
  });
});
