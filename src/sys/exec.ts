/**
 * Running system commands (runc, ip, nft, mkfs.ext4, losetup, qemu-img ...) safely: always an argument
 * array, never a shell; every argument that comes from a user or an appliance is validated by the caller
 * (see names.ts). Output is captured with a size cap; a failure is a CollectiveError that names the
 * command, its exit status and the last lines of stderr.
 */
import { spawn } from "node:child_process";
import { CollectiveError } from "../errors.js";

export interface ExecOptions {
  /** Bytes written to the child's stdin (never put secrets in argv or env: pass them here or in files). */
  readonly input?: string | Uint8Array;
  readonly cwd?: string;
  /** Extra environment; the child gets process.env plus these. */
  readonly env?: Readonly<Record<string, string>>;
  /** Variables of process.env the child must not inherit (runc acts on NOTIFY_SOCKET, for one). */
  readonly unsetEnv?: readonly string[];
  /** Kill the child (SIGKILL) after this many milliseconds. Default 60 s. */
  readonly timeoutMs?: number;
  /** Exit statuses that count as success (default [0]). */
  readonly okStatuses?: readonly number[];
  /** Largest stdout kept, in bytes (default 16 MiB); beyond it the command fails. */
  readonly maxOutputBytes?: number;
  readonly signal?: AbortSignal;
}

export interface ExecResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** process.env plus options.env, minus options.unsetEnv. */
export function childEnvironment(options: Pick<ExecOptions, "env" | "unsetEnv">): NodeJS.ProcessEnv {
  if (!options.env && !options.unsetEnv) return process.env;
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  for (const name of options.unsetEnv ?? []) delete env[name];
  return env;
}

/** Runs `command args...` and resolves with its output; rejects with a CollectiveError on failure. */
export function exec(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxOutput = options.maxOutputBytes ?? 16 * 1024 * 1024;
  const okStatuses = options.okStatuses ?? [0];
  const shown = [command, ...args].join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: childEnvironment(options),
      stdio: ["pipe", "pipe", "pipe"],
      shell: false,
      signal: options.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let overflow = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxOutput) {
        overflow = true;
        child.kill("SIGKILL");
        return;
      }
      out.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      // Keep only the tail of stderr: it is for error messages.
      errBytes += chunk.length;
      err.push(chunk);
      while (errBytes > 64 * 1024 && err.length > 1) errBytes -= err.shift()!.length;
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const hint =
        error.code === "ENOENT" ? `install ${command} (cui doctor lists what a host needs)` : undefined;
      reject(
        new CollectiveError("EXEC_FAILED", `cannot run ${command}: ${error.message}`, {
          ...(hint ? { hint } : {}),
          cause: error,
        }),
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      const status = code ?? 128;
      if (overflow) {
        reject(new CollectiveError("EXEC_FAILED", `${shown}: printed more than ${maxOutput} bytes`));
      } else if (signal !== null && code === null) {
        const why = signal === "SIGKILL" ? `timed out after ${timeoutMs} ms` : `killed by ${signal}`;
        reject(new CollectiveError("EXEC_FAILED", `${shown}: ${why}`));
      } else if (!okStatuses.includes(status)) {
        const tail = stderr.trim().split("\n").slice(-5).join("\n  ");
        reject(
          new CollectiveError(
            "EXEC_FAILED",
            `${shown} failed with exit status ${status}${tail ? `:\n  ${tail}` : ""}`,
          ),
        );
      } else resolve({ status, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Runs a command that prints JSON (ip -j, nft -j, runc state) and parses it. */
export async function execJson<T>(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<T> {
  const { stdout } = await exec(command, args, options);
  const text = stdout.trim();
  if (text === "") return [] as unknown as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CollectiveError(
      "EXEC_FAILED",
      `${command} ${args.join(" ")} printed output that is not JSON: ${text.slice(0, 200)}`,
    );
  }
}
