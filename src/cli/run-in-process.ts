/**
 * For tests: runs `cui ARGS` in this process (no spawn, no build needed), with `cwd` as the working
 * directory, capturing what it writes on stdout and stderr.
 */
import { main } from "./main.js";

export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

export async function runCui(args: readonly string[], cwd = process.cwd()): Promise<CliRun> {
  const previous = process.cwd();
  const out: string[] = [];
  const err: string[] = [];
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  const capture =
    (into: string[]) =>
    (chunk: string | Uint8Array): boolean => {
      into.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      return true;
    };
  process.stdout.write = capture(out) as typeof process.stdout.write;
  process.stderr.write = capture(err) as typeof process.stderr.write;
  process.exitCode = undefined;
  process.chdir(cwd);
  try {
    const status = await main(args);
    return { status, stdout: out.join(""), stderr: err.join("") };
  } finally {
    process.chdir(previous);
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    process.exitCode = undefined;
  }
}
