import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../cli/main.js";
import { doctorLeftovers, nothingLeft } from "./test-kit.js";

let dir: string;
let out: string;

/** Runs `cui ...args` in-process, capturing stdout. */
async function cui(...args: string[]): Promise<number> {
  out = "";
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    return await main(args);
  } finally {
    stdout.mockRestore();
    process.exitCode = undefined;
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cui-doctor-cli-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("cui doctor", () => {
  it("--json on this machine: exit 0, ok, and nothing left behind", async () => {
    const stateDir = join(dir, "state");
    mkdirSync(stateDir);
    expect(await cui("--state-dir", stateDir, "doctor", "--json")).toBe(0);
    const report = JSON.parse(out) as {
      ok: boolean;
      checks: { name: string; status: string; required: boolean }[];
    };
    expect(report.ok).toBe(true);
    expect(report.checks.filter((c) => c.required && c.status !== "ok")).toEqual([]);
    expect(await doctorLeftovers([stateDir])).toEqual(nothingLeft);
  });

  it("exits 1 with a table and the fixes when a required check fails", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    expect(await cui("--state-dir", join(file, "state"), "doctor")).toBe(1);
    expect(out).toMatch(/^CHECK +STATUS +DETAIL$/m);
    expect(out).toMatch(/^state directory +broken +.*is not a directory$/m);
    expect(out).toContain("To fix:\n");
    expect(out).toMatch(/^ {2}state directory: run as root, or pass --state-dir/m);
    expect(out).toMatch(/^not ready: 1 required check failed/m);
    // With no usable state dir the overlay test ran in the OS temp dir: it must be clean too.
    await expect.poll(() => doctorLeftovers([tmpdir()]), { timeout: 3000 }).toEqual(nothingLeft);
  });

  it("--help explains the checks, the exit status and gives examples", async () => {
    expect(await cui("doctor", "--help")).toBe(0);
    expect(out).toContain("Exit status: 0 when every required check passes");
    expect(out).toContain("Examples:\n  sudo cui doctor");
  });
});
