/**
 * The CLI's side of the user agent: one connection per request, one JSON line each way. Before it sends
 * anything (a password, a value) it checks that the socket's directory is the user's own and private, so
 * it never hands a secret to a socket another user planted.
 */
import { connect } from "node:net";
import { CollectiveError } from "../errors.js";
import { type AgentPaths, agentPaths, checkPrivateDir } from "./agent-paths.js";
import { type AgentRequest, type AgentResponses, lineSplitter } from "./agent-protocol.js";

export interface AgentClient {
  readonly paths: AgentPaths;
  request<C extends AgentRequest["cmd"]>(
    request: Extract<AgentRequest, { cmd: C }>,
    options?: { timeoutMs?: number },
  ): Promise<AgentResponses[C]>;
  /** Whether an agent answers (no error when none runs). */
  running(): Promise<boolean>;
}

function noAgent(paths: AgentPaths): CollectiveError {
  return new CollectiveError("NO_AGENT", `no user agent runs (no socket at ${paths.socket})`, {
    hint: "start it with 'cui agent start', then 'cui agent unlock'",
  });
}

export function agentClient(options: { dir?: string } = {}): AgentClient {
  const paths = agentPaths(options.dir);
  const client: AgentClient = {
    paths,
    async request(request, requestOptions = {}) {
      if (!checkPrivateDir(paths.dir, { create: false })) throw noAgent(paths);
      const reply = await exchange(paths, request, requestOptions.timeoutMs ?? 120_000);
      if (reply.ok === true) {
        const { ok: _ok, ...rest } = reply;
        return rest as never;
      }
      const e = (reply.error ?? {}) as { code?: string; message?: string; hint?: string };
      throw new CollectiveError(e.code ?? "AGENT", e.message ?? "the user agent refused the request", {
        ...(e.hint ? { hint: e.hint } : {}),
      });
    },
    async running() {
      try {
        await client.request({ cmd: "status" }, { timeoutMs: 5_000 });
        return true;
      } catch (error) {
        if ((error as CollectiveError).code === "NO_AGENT") return false;
        throw error;
      }
    },
  };
  return client;
}

function exchange(
  paths: AgentPaths,
  request: AgentRequest,
  timeoutMs: number,
): Promise<{ ok?: unknown; error?: unknown } & Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect(paths.socket);
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(
      () =>
        settle(() =>
          reject(
            new CollectiveError(
              "AGENT_TIMEOUT",
              `the user agent did not answer within ${timeoutMs / 1000} s`,
              {
                hint: `see its log ${paths.log}; 'cui agent stop' and 'cui agent start' restart it`,
              },
            ),
          ),
        ),
      timeoutMs,
    );
    socket.once("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("error", (error: NodeJS.ErrnoException) =>
      settle(() =>
        reject(
          error.code === "ENOENT" || error.code === "ECONNREFUSED"
            ? noAgent(paths)
            : new CollectiveError(
                "AGENT",
                `cannot talk to the user agent on ${paths.socket}: ${error.message}`,
                {
                  cause: error,
                },
              ),
        ),
      ),
    );
    socket.on(
      "data",
      lineSplitter(
        (line) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch {
            parsed = undefined;
          }
          settle(() =>
            typeof parsed === "object" && parsed !== null
              ? resolve(parsed as Record<string, unknown>)
              : reject(
                  new CollectiveError("AGENT", "the user agent answered with something that is not JSON"),
                ),
          );
        },
        () => settle(() => reject(new CollectiveError("AGENT", "the user agent's answer is too long"))),
      ),
    );
    socket.on("end", () =>
      settle(() =>
        reject(new CollectiveError("AGENT", "the user agent closed the connection without answering")),
      ),
    );
  });
}
