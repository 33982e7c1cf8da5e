/**
 * Running one benchmark step as a child process under /usr/bin/time -v, which reports what the kernel
 * measured for it: wall time, CPU time and peak resident memory (VmHWM) of the process tree's largest
 * member. Arguments are an array: no shell.
 */
import { spawn } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { warmFiles } from "./warm.js";

export interface Measured {
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs and measures one step. `warm`: the files the step reads (its input, the tool's repository and
 * cache), read first so that the step starts from the page cache (warm.ts says why).
 */
export async function measure(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  warm: readonly string[] = [],
): Promise<Measured> {
  // Every step starts with nothing left to write back from the steps before it (a pulled tree, a
  // publish's pack): otherwise the kernel's writeback of those competes with the step measured, and
  // which tool pays for it depends on the order the steps run in. Not part of the time measured.
  await run("sync", []);
  warmFiles(warm);
  const { code, stdout, stderr } = await run("/usr/bin/time", ["-v", command, ...args], env);
  const field = (name: string): string => new RegExp(`${name}: (.+)`).exec(stderr)?.[1]?.trim() ?? "";
  if (code !== 0)
    throw new Error(`${command} ${args.join(" ")} failed (exit ${code}):\n${stderr.slice(-2000)}`);
  const wall = field("Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)")
    .split(":")
    .reduce((total, part) => total * 60 + Number(part), 0);
  return {
    wallSeconds: wall,
    cpuSeconds: Number(field("User time \\(seconds\\)")) + Number(field("System time \\(seconds\\)")),
    peakRssMiB: Number(field("Maximum resident set size \\(kbytes\\)")) / 1024,
    stdout,
    stderr,
  };
}

export function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => {
      stdout += data.toString();
    });
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Bytes a directory tree occupies as files (apparent sizes, like du -sb without directories). */
export async function treeBytes(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) total += await treeBytes(child);
    else if (entry.isFile()) total += (await stat(child)).size;
  }
  return total;
}
