/**
 * The runc command line, as the container driver uses it: every call names the driver's own state root
 * (--root), so Collective's containers never mix with anyone else's, and ids are validated (checkId)
 * before they get here. NOTIFY_SOCKET is removed from runc's environment: runc would otherwise act on
 * the agent's own systemd socket.
 */
import { spawn } from "node:child_process";
import { readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { childEnvironment, exec, execJson } from "../sys/exec.js";

export interface RuncState {
  readonly id: string;
  readonly pid: number;
  readonly status: "creating" | "created" | "running" | "paused" | "stopped";
  readonly bundle: string;
  readonly created: string;
}

const runcEnv = { unsetEnv: ["NOTIFY_SOCKET"] } as const;

export class Runc {
  constructor(readonly root: string) {}

  /** The container's state, or undefined when runc has no such container. */
  async state(id: string): Promise<RuncState | undefined> {
    const result = await exec("runc", ["--root", this.root, "state", id], { ...runcEnv, okStatuses: [0, 1] });
    if (result.status !== 0) {
      if (/does not exist|not exist|no such/i.test(result.stderr)) return undefined;
      throw new CollectiveError("RUNC_FAILED", `runc state ${id} failed: ${result.stderr.trim()}`);
    }
    return JSON.parse(result.stdout) as RuncState;
  }

  async list(): Promise<RuncState[]> {
    const states = await execJson<RuncState[] | null>(
      "runc",
      ["--root", this.root, "list", "--format", "json"],
      runcEnv,
    );
    return states ?? [];
  }

  /**
   * `runc run --detach`: the container's stdout and stderr go straight to `consoleFd` (the log file, held
   * by the container itself, so logging needs no process of ours and survives an agent restart).
   */
  async runDetached(id: string, bundle: string, consoleFd: number, runcLog: string): Promise<number> {
    // The pid file saves a `runc state` call per start.
    const pidFile = join(bundle, "init.pid");
    await unlink(pidFile).catch(() => undefined);
    const args = [
      "--root",
      this.root,
      "--log",
      runcLog,
      "--log-format",
      "json",
      "run",
      "--detach",
      "--pid-file",
      pidFile,
      "--bundle",
      bundle,
      id,
    ];
    const status = await new Promise<number>((resolve, reject) => {
      const child = spawn("runc", args, {
        stdio: ["ignore", consoleFd, consoleFd],
        env: childEnvironment(runcEnv),
        shell: false,
      });
      child.on("error", reject);
      child.on("close", (code) => resolve(code ?? 128));
    });
    if (status !== 0) {
      throw new CollectiveError(
        "RUNC_FAILED",
        `runc run ${id} failed (exit status ${status}): ${await lastRuncError(runcLog)}`,
        {
          hint: "The machine's log (cui logs) and its runc.log in the state dir have the details.",
        },
      );
    }
    return Number.parseInt(await readFile(pidFile, "utf8"), 10);
  }

  /** Sends a signal to the container's init; a container that is already gone is not an error. */
  async kill(id: string, signal: "TERM" | "KILL" | "HUP"): Promise<void> {
    await exec("runc", ["--root", this.root, "kill", id, signal], { ...runcEnv, okStatuses: [0, 1] });
  }

  async delete(id: string): Promise<void> {
    await exec("runc", ["--root", this.root, "delete", "--force", id], { ...runcEnv, okStatuses: [0, 1] });
  }

  /** Runs a command inside the container (exec health checks); resolves with its exit status. */
  async execStatus(id: string, argv: readonly string[], timeoutMs: number): Promise<number> {
    const result = await exec("runc", ["--root", this.root, "exec", id, ...argv], {
      ...runcEnv,
      timeoutMs,
      okStatuses: Array.from({ length: 256 }, (_, status) => status),
    });
    return result.status;
  }
}

/** The last error runc logged (json lines with "level":"error"), for the failure message. */
async function lastRuncError(runcLog: string): Promise<string> {
  const text = await readFile(runcLog, "utf8").catch(() => "");
  const errors = text
    .split("\n")
    .filter((line) => line.includes('"level":"error"'))
    .map((line) => {
      try {
        return String((JSON.parse(line) as { msg?: unknown }).msg ?? line);
      } catch {
        return line;
      }
    });
  return errors.at(-1) ?? "no error logged";
}
