/**
 * What the run benchmarks (van-bench.ts, update-bench.ts) share: a child process timed to its end, and
 * the removal of everything a bench's own utility made, even after a failure (daemon, runc containers,
 * mounts, loop devices, namespaces, links, nft tables, cgroups, files).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command (argument array, no shell) to its end, with its output and wall time. */
export function runProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done, fail) => {
    const began = performance.now();
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr, ms: performance.now() - began }));
  });
}

function rmdirSafe(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // not there, or not empty (a process still in it): reported by the check after the run
  }
}

/** Removes what the bench's utility made: `dir` holds its state dir; names start with `prefix`. */
export async function removeBenchLeftovers(bench: {
  dir: string;
  stateDir: string;
  runcRoot: string;
  prefix: string;
}): Promise<void> {
  const { dir, stateDir, runcRoot, prefix } = bench;
  const run = (command: string, args: string[]) => runProcess(command, args, process.env);
  const pidFile = join(stateDir, "daemon.pid");
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGKILL");
    } catch {
      // already gone
    }
  }
  const list = await run("runc", ["--root", runcRoot, "list", "-q"]);
  for (const id of list.stdout.split("\n").filter(Boolean))
    await run("runc", ["--root", runcRoot, "delete", "--force", id]);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dir))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run("umount", ["-l", m]);
  const loops = await run("losetup", ["-n", "-O", "NAME,BACK-FILE", "-l"]);
  for (const line of loops.stdout.split("\n")) {
    const [device, backing] = line.trim().split(/\s+/, 2);
    if (device && backing?.startsWith(dir)) await run("losetup", ["-d", device]);
  }
  const netns = await run("ip", ["netns", "list"]);
  for (const line of netns.stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (name.startsWith(`${prefix}-`)) await run("ip", ["netns", "delete", name]);
  }
  const links = JSON.parse((await run("ip", ["-j", "link", "show"])).stdout || "[]") as Array<{
    ifname: string;
  }>;
  for (const l of links) if (l.ifname.startsWith(prefix)) await run("ip", ["link", "delete", l.ifname]);
  for (const family of ["inet", "bridge"])
    await run("nft", ["delete", "table", family, `collective_${prefix}`]);
  const cgroups = join("/sys/fs/cgroup", `collective-${prefix}`);
  for (const entry of existsSync(cgroups) ? readdirSync(cgroups, { withFileTypes: true }) : [])
    if (entry.isDirectory()) rmdirSafe(join(cgroups, entry.name));
  rmdirSafe(cgroups);
  rmSync(resolve(runcRoot, ".."), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
