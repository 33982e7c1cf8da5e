import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { runCui } from "../run-in-process.js";

const messy = 'CVL="0.8";\nWeb extends VMAppliance{var "required" domain;vm="web.vmx";}\n';
const tidy = 'CVL = "0.8";\n\nWeb extends VMAppliance {\n  var "required" domain;\n  vm = "web.vmx";\n}\n';
const broken = "Web extends VMAppliance {\n  var domain\n  vm = ;\n}\n";

let dir: string;
let out: string;
let err: string;

/** Runs `cui ...args` in-process, capturing stdout and stderr into `out` and `err`. */
async function cui(...args: string[]): Promise<number> {
  const run = await runCui(args);
  out = run.stdout;
  err = run.stderr;
  return run.status;
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const read = (path: string) => readFileSync(path, "utf8");

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cui-fmt-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

describe("cui fmt", () => {
  test("rewrites files that change, prints their names, leaves formatted files alone", async () => {
    const a = file("a.cvl", messy);
    const b = file("b.cvl", tidy);
    const before = statSync(b).mtimeMs;
    expect(await cui("fmt", a, b)).toBe(0);
    expect(out).toBe(`${a}\n`);
    expect(err).toBe("");
    expect(read(a)).toBe(tidy);
    expect(read(b)).toBe(tidy);
    expect(statSync(b).mtimeMs).toBe(before);
    // Atomic replacement leaves no temporary file behind.
    expect(readdirSync(dir).sort()).toEqual(["a.cvl", "b.cvl"]);
  });

  test("keeps the file's permissions", async () => {
    const a = file("a.cvl", messy);
    chmodSync(a, 0o640);
    expect(await cui("fmt", a)).toBe(0);
    expect(statSync(a).mode & 0o777).toBe(0o640);
  });

  test("writes through a symbolic link, which stays a link", async () => {
    const target = file("real.cvl", messy);
    const link = join(dir, "link.cvl");
    symlinkSync(target, link);
    expect(await cui("fmt", link)).toBe(0);
    expect(out).toBe(`${link}\n`);
    expect(read(target)).toBe(tidy);
    expect(statSync(link, { throwIfNoEntry: true }).isFile()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["link.cvl", "real.cvl"]);
  });

  test("CRLF line ends count as a change", async () => {
    const a = file("a.cvl", tidy.replace(/\n/g, "\r\n"));
    expect(await cui("fmt", a)).toBe(0);
    expect(out).toBe(`${a}\n`);
    expect(read(a)).toBe(tidy);
  });

  test("--check lists unformatted files, writes nothing, and exits 1", async () => {
    const a = file("a.cvl", messy);
    const b = file("b.cvl", tidy);
    expect(await cui("fmt", "--check", a, b)).toBe(1);
    expect(out).toBe(`${a}\n`);
    expect(err).toMatch(/1 file is not formatted/);
    expect(read(a)).toBe(messy);
    expect(readdirSync(dir).sort()).toEqual(["a.cvl", "b.cvl"]);
  });

  test("--check exits 0 when everything is formatted", async () => {
    const b = file("b.cvl", tidy);
    expect(await cui("fmt", "--check", b)).toBe(0);
    expect(out).toBe("");
    expect(err).toBe("");
  });

  test("a file with syntax errors: diagnostics, exit 1, file untouched, other files still formatted", async () => {
    const bad = file("bad.cvl", broken);
    const a = file("a.cvl", messy);
    expect(await cui("fmt", bad, a)).toBe(1);
    expect(err).toContain(`${bad}:2:13: error CVL1101: ';' expected at the end of the var declaration`);
    expect(err).toContain(`${bad}:3:8: error CVL1101: a value expected`);
    // The compiler-style excerpt with a caret, as formatDiagnostic prints it.
    expect(err).toContain("    vm = ;\n         ^");
    expect(read(bad)).toBe(broken);
    expect(read(a)).toBe(tidy);
    expect(out).toBe(`${a}\n`);
  });

  test("a file that cannot be read is reported, and the exit status is 1", async () => {
    const missing = join(dir, "missing.cvl");
    expect(await cui("fmt", missing)).toBe(1);
    expect(err).toContain(`${missing}: error CVL1001: cannot read the file: no such file`);
  });

  test("'-' formats stdin to stdout", async () => {
    vi.spyOn(process, "stdin", "get").mockReturnValue(
      Readable.from([Buffer.from(messy)]) as typeof process.stdin,
    );
    expect(await cui("fmt", "-")).toBe(0);
    expect(out).toBe(tidy);
  });

  test("'-' with --check names <stdin> when it is not formatted", async () => {
    vi.spyOn(process, "stdin", "get").mockReturnValue(
      Readable.from([Buffer.from(messy)]) as typeof process.stdin,
    );
    expect(await cui("fmt", "--check", "-")).toBe(1);
    expect(out).toBe("<stdin>\n");
  });

  test("'-' with syntax errors prints diagnostics naming <stdin> and no output", async () => {
    vi.spyOn(process, "stdin", "get").mockReturnValue(
      Readable.from([Buffer.from(broken)]) as typeof process.stdin,
    );
    expect(await cui("fmt", "-")).toBe(1);
    expect(out).toBe("");
    expect(err).toContain("<stdin>:2:13: error CVL1101");
  });

  test("--help describes the command, its options, exit status and examples", async () => {
    expect(await cui("fmt", "--help")).toBe(0);
    expect(out).toContain("Usage: cui fmt [options] <file.cvl...>");
    expect(out).toContain("--check");
    expect(out).toContain("Exit status:");
    expect(out).toContain("cui fmt - < acme.cvl > out.cvl");
  });

  test("no file is a usage error", async () => {
    expect(await cui("fmt")).toBe(2);
  });
});
