/**
 * The CLI's side of the API: requests over the daemon's unix socket with the bearer token, and the
 * embedded default: when no daemon answers, start one in the background and wait for it.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { CollectiveError, isCollectiveError } from "../errors.js";
import { buildId } from "./build-id.js";
import { type StatePaths, statePaths } from "./paths.js";
import { readToken } from "./token.js";

export interface ApiClient {
  readonly paths: StatePaths;
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** A streamed operation: calls onProgress per progress line, resolves with the result line. */
  operation<T>(path: string, body: unknown, onProgress: (event: Record<string, unknown>) => void): Promise<T>;
  /** A text stream (logs): calls onText per chunk until the daemon ends it. */
  text(path: string, onText: (text: string) => void): Promise<void>;
}

interface RawResponse {
  status: number;
  body: string;
}

/** Sends a request and collects the whole response. */
async function send(
  socket: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<RawResponse> {
  let text = "";
  const status = await sendStreaming(socket, token, method, path, body, (chunk) => {
    text += chunk;
  });
  return { status, body: text };
}

/** Sends a request and hands the response body to `onChunk` as it arrives; resolves with the status. */
function sendStreaming(
  socket: string,
  token: string | undefined,
  method: string,
  path: string,
  body: unknown,
  onChunk: (text: string) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        res.setEncoding("utf8");
        res.on("data", (text: string) => onChunk(text));
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function errorFrom(parsed: unknown, fallback: string): CollectiveError {
  const e = (parsed as { error?: { code?: string; message?: string; hint?: string } }).error ?? {};
  return new CollectiveError(e.code ?? "API", e.message ?? fallback, { ...(e.hint ? { hint: e.hint } : {}) });
}

/** The daemon went away in the middle of a request: what the user sees instead of "internal error". */
function stoppedAnswering(paths: StatePaths, request: string, error: unknown): CollectiveError {
  return new CollectiveError(
    "DAEMON_DOWN",
    `the daemon stopped answering during ${request} (${error instanceof Error ? error.message : String(error)}); what was under way is finished or undone when it starts again`,
    {
      hint: `any cui command starts it again ('cui status' shows the outcome); its log is ${paths.log}`,
    },
  );
}

/** The connection broke before the whole answer came ("socket hang up" is node's ECONNRESET). */
function connectionLost(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ECONNRESET" || code === "EPIPE";
}

function daemonDown(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ECONNREFUSED";
}

/** Starts `cui daemon` detached, logging to the state directory, and waits until it answers. */
async function startBackgroundDaemon(paths: StatePaths): Promise<void> {
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  const log = openSync(paths.log, "a", 0o600);
  const cli = fileURLToPath(new URL("../../../bin/cui.js", import.meta.url));
  const child = spawn(process.execPath, [cli, "--state-dir", paths.root, "daemon"], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  let exited: number | null | undefined;
  child.once("exit", (code) => {
    exited = code;
  });
  child.unref();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const tail = readFileSync(paths.log, "utf8").trim().split("\n").slice(-5).join("\n  ");
      throw new CollectiveError(
        "DAEMON_DOWN",
        `the daemon exited (status ${exited}) instead of starting:\n  ${tail}`,
        {
          hint: `its whole log is ${paths.log}`,
        },
      );
    }
    try {
      await send(paths.socket, undefined, "GET", "/openapi.json");
      return;
    } catch (error) {
      if (!daemonDown(error)) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new CollectiveError("DAEMON_DOWN", `the daemon did not start within 15 s`, {
    hint: `see its log: ${paths.log}`,
  });
}

export function apiClient(options: { stateDir?: string; autoStart?: boolean } = {}): ApiClient {
  const paths = statePaths(options.stateDir);
  return {
    paths,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      let response: RawResponse;
      try {
        response = await send(paths.socket, readTokenIfPresent(paths), method, path, body);
      } catch (error) {
        // A daemon that dies while it answers hangs up. A GET is asked again of a new one, as when none
        // runs; anything else may have been done, and is reported, not repeated.
        const hungUp = connectionLost(error);
        if (hungUp && method !== "GET") throw stoppedAnswering(paths, `${method} ${path}`, error);
        if (!daemonDown(error) && !hungUp) throw error;
        if (options.autoStart === false) {
          throw new CollectiveError("DAEMON_DOWN", `no daemon runs for ${paths.root}`, {
            hint: "start it with 'cui daemon'",
          });
        }
        await startBackgroundDaemon(paths);
        response = await send(paths.socket, readToken(paths.token), method, path, body);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(response.body);
      } catch {
        throw new CollectiveError(
          "API",
          `the daemon answered ${method} ${path} with status ${response.status} and no JSON`,
        );
      }
      if (response.status >= 400) throw errorFrom(parsed, `the daemon answered ${response.status}`);
      return parsed as T;
    },
    async operation<T>(
      path: string,
      body: unknown,
      onProgress: (event: Record<string, unknown>) => void,
    ): Promise<T> {
      // Starts the daemon if needed and checks the token; warns when the daemon runs another build.
      const health = await this.call<{ build?: string }>("GET", "/v1/health");
      if (health.build !== undefined && health.build !== buildId()) {
        process.stderr.write(
          "warning: the running daemon is from another build of cui; restart it with 'cui daemon stop' (appliances keep running)\n",
        );
      }
      let buffer = "";
      let result: { value: T } | undefined;
      let failure: CollectiveError | undefined;
      let status: number;
      try {
        status = await sendStreaming(paths.socket, readToken(paths.token), "POST", path, body, (text) => {
          buffer += text;
          for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (line.trim() === "") continue;
            const parsed = JSON.parse(line) as {
              progress?: Record<string, unknown>;
              result?: T;
              error?: unknown;
            };
            if (parsed.progress) onProgress(parsed.progress);
            else if ("result" in parsed) result = { value: parsed.result as T };
            else if (parsed.error) failure = errorFrom(parsed, "the operation failed");
          }
        });
      } catch (error) {
        // The daemon died (or was killed) mid-operation: say so, not "internal error". The journal lets
        // the next daemon finish or undo what was under way.
        if (isCollectiveError(error)) throw error;
        throw stoppedAnswering(paths, path, error);
      }
      if (buffer.trim() !== "") {
        const parsed = JSON.parse(buffer) as unknown;
        failure = errorFrom(parsed, `the daemon answered ${status}`);
      }
      if (failure) throw failure;
      if (!result)
        throw new CollectiveError(
          "API",
          `the daemon ended ${path} without a result (status ${status}); see ${paths.log}`,
        );
      return result.value;
    },
    async text(path: string, onText: (text: string) => void): Promise<void> {
      await this.call("GET", "/v1/health");
      let first = true;
      let errorText = "";
      const status = await sendStreaming(
        paths.socket,
        readToken(paths.token),
        "GET",
        path,
        undefined,
        (text) => {
          if (first && text.startsWith('{"error"')) errorText = text;
          else if (errorText) errorText += text;
          else onText(text);
          first = false;
        },
      );
      if (status >= 400 || errorText)
        throw errorFrom(JSON.parse(errorText || "{}"), `the daemon answered ${status}`);
    },
  };
}

function readTokenIfPresent(paths: StatePaths): string | undefined {
  try {
    return readToken(paths.token);
  } catch (error) {
    if ((error as CollectiveError).code === "DAEMON_DOWN") return undefined;
    throw error;
  }
}
