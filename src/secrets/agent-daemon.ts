/**
 * The user agent: a per-user process, like ssh-agent, that holds the secret store. Locked, it holds
 * nothing but the store's path; unlocked, it holds the decrypted store in memory and answers the CLI's
 * requests (agent-protocol.ts) on a unix socket in a private directory (agent-paths.ts). Every change is
 * written to the store file at once, so a killed agent loses nothing.
 *
 * It never logs a value or a password: its log lines are events and parameter names.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { CollectiveError, isCollectiveError } from "../errors.js";
import { type AgentPaths, agentPaths, checkPrivateDir } from "./agent-paths.js";
import { type AgentReply, type AgentRequest, lineSplitter } from "./agent-protocol.js";
import type { KdfParams } from "./crypto.js";
import { changeStorePassword, checkRef, checkScope, type SecretRef, SecretStore } from "./store.js";

export interface AgentOptions {
  /** The socket's directory; agentPaths()'s default when absent. */
  readonly dir?: string;
  /** The store file. */
  readonly store: string;
  /** scrypt cost for a new store or password (tests pass a cheap one). */
  readonly kdf?: KdfParams;
  /** Where log lines go (default stderr, which `cui agent start` points at the log file). */
  readonly log?: (line: string) => void;
}

export interface RunningAgent {
  readonly paths: AgentPaths;
  /** Resolves when the agent has stopped (a stop request or close()). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** Starts the agent's server; fails with AGENT_RUNNING when another agent answers on the socket. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const paths = agentPaths(options.dir);
  const log =
    options.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  checkPrivateDir(paths.dir, { create: true });
  await removeStaleSocket(paths.socket);

  const state = new AgentState(options, log);
  const sockets = new Set<Socket>();
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((done) => {
      state.lock();
      server.close(() => {
        log("stopped");
        resolveClosed();
        done();
      });
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };

  // One request at a time across all connections: a lock cannot overtake an unlock still deriving its key,
  // and a set cannot race a password change for the file.
  let chain = Promise.resolve();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const reply = (r: AgentReply) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(r)}\n`);
    };
    const onLine = (line: string) => {
      chain = chain.then(async () => {
        const request = parseRequest(line);
        const response = request
          ? await state.handle(request)
          : failure("BAD_REQUEST", "the request is not valid JSON");
        reply(response);
        if (request?.cmd === "stop" && response.ok) {
          socket.end();
          await close();
        }
      });
      // A failure here must not stall every later request (the chain would stay rejected).
      chain = chain.catch((error: unknown) => log(`internal error ${(error as Error).name}`));
    };
    socket.on(
      "data",
      lineSplitter(onLine, () => {
        reply(failure("BAD_REQUEST", "the request line is too long"));
        socket.end();
      }),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(paths.socket, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // The directory already keeps others out; the socket's own mode is a second lock.
  chmodSync(paths.socket, 0o600);
  log(`started (pid ${process.pid}), socket ${paths.socket}, store ${options.store}`);
  return { paths, closed, close };
}

/** A socket file nobody answers on is left by a killed agent: remove it. One that answers is an agent. */
async function removeStaleSocket(socket: string): Promise<void> {
  if (!existsSync(socket)) return;
  const answers = await new Promise<boolean>((resolve) => {
    const probe = connect(socket);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (answers) {
    throw new CollectiveError("AGENT_RUNNING", `a user agent already runs on ${socket}`, {
      hint: "use it ('cui agent status'), or stop it first ('cui agent stop')",
    });
  }
  unlinkSync(socket);
}

function parseRequest(line: string): AgentRequest | undefined {
  try {
    const value = JSON.parse(line) as unknown;
    if (typeof value === "object" && value !== null && typeof (value as { cmd?: unknown }).cmd === "string") {
      return value as AgentRequest;
    }
  } catch {
    // Deliberately no detail: JSON.parse's message quotes the line, which may hold a value.
  }
  return undefined;
}

function failure(code: string, message: string, hint?: string): AgentReply {
  return { ok: false, error: { code, message, ...(hint ? { hint } : {}) } };
}

function str(value: unknown, name: string): string {
  if (typeof value !== "string")
    throw new CollectiveError("BAD_REQUEST", `the request's ${name} is not a string`);
  return value;
}

function ref(value: unknown): SecretRef {
  const r = (value ?? {}) as Record<string, unknown>;
  const checked = { file: str(r.file, "file"), param: str(r.param, "param") };
  checkRef(checked);
  return checked;
}

/** The agent's memory: the store when unlocked, nothing when locked. */
class AgentState {
  private store: SecretStore | undefined;

  constructor(
    private readonly options: AgentOptions,
    private readonly log: (line: string) => void,
  ) {}

  lock(): boolean {
    const was = this.store !== undefined;
    this.store = undefined;
    return was;
  }

  private unlocked(): SecretStore {
    if (!this.store) {
      throw new CollectiveError("AGENT_LOCKED", "the user agent is locked", {
        hint: "unlock it with 'cui agent unlock'",
      });
    }
    return this.store;
  }

  async handle(request: AgentRequest): Promise<AgentReply> {
    try {
      return { ok: true, ...(await this.dispatch(request)) };
    } catch (error) {
      if (!isCollectiveError(error)) {
        // Not a value in sight here, but keep the log to the error's kind: a stack can quote arguments.
        this.log(`${request.cmd}: internal error ${(error as Error).name}`);
        return failure(
          "AGENT_INTERNAL",
          `the user agent failed: ${(error as Error).name}`,
          "see the agent's log",
        );
      }
      this.log(`${request.cmd}: ${error.code}`);
      return failure(error.code, error.message, error.hint);
    }
  }

  private async dispatch(request: AgentRequest): Promise<Record<string, unknown>> {
    const { store: path, kdf } = this.options;
    switch (request.cmd) {
      case "status": {
        const entries = this.store?.list();
        return {
          locked: !this.store,
          store: path,
          storeExists: existsSync(path),
          pid: process.pid,
          ...(entries
            ? { entries: entries.values.length + entries.links.length + entries.shared.length }
            : {}),
        };
      }
      case "unlock": {
        const password = str(request.password, "password");
        let created = false;
        if (request.create === true && !existsSync(path)) {
          mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
          this.store = await SecretStore.create(path, password, kdf ? { kdf } : {});
          created = true;
        } else {
          this.store = await SecretStore.open(path, password);
        }
        const l = this.store.list();
        const entries = l.values.length + l.links.length + l.shared.length;
        this.log(created ? `created the store ${path}` : `unlocked (${entries} entries)`);
        return { created, entries };
      }
      case "lock": {
        const wasLocked = !this.lock();
        this.log("locked");
        return { wasLocked };
      }
      case "get": {
        const store = this.unlocked();
        if (!Array.isArray(request.refs))
          throw new CollectiveError("BAD_REQUEST", "the request's refs are not a list");
        const values = [];
        const missing = [];
        for (const r of request.refs.map(ref)) {
          const found = store.get(r);
          if (found)
            values.push({ ...r, value: found.value, ...(found.scope ? { scope: found.scope } : {}) });
          else {
            const scope = store.scopeOf(r);
            missing.push({ ...r, ...(scope ? { scope } : {}) });
          }
        }
        this.log(`get: ${values.length} given, ${missing.length} missing`);
        return { values, missing };
      }
      case "set": {
        const store = this.unlocked();
        const r = ref(request.ref);
        const scope = request.scope === undefined ? undefined : str(request.scope, "scope");
        if (scope !== undefined) checkScope(scope);
        const result = store.set(r, str(request.value, "value"), scope);
        store.save();
        this.log(`set ${r.file} ${r.param}${scope ? ` (scope ${scope})` : ""}`);
        return { ...result };
      }
      case "rm": {
        const store = this.unlocked();
        const r = ref(request.ref);
        const removed = store.remove(r);
        if (removed) store.save();
        this.log(`rm ${r.file} ${r.param}: ${removed ? "removed" : "absent"}`);
        return { removed };
      }
      case "rm-shared": {
        const store = this.unlocked();
        const scope = str(request.scope, "scope");
        const name = str(request.name, "name");
        const links = store.removeShared(scope, name);
        if (links !== undefined) store.save();
        this.log(`rm scope ${scope} ${name}: ${links === undefined ? "absent" : "removed"}`);
        return links === undefined ? { removed: false } : { removed: true, links };
      }
      case "list":
        return { ...this.unlocked().list() };
      case "passwd": {
        const newPassword = str(request.new, "new password");
        await changeStorePassword(path, str(request.old, "old password"), newPassword, kdf ? { kdf } : {});
        // The file's key header changed: an unlocked store must save with the new one.
        if (this.store) this.store = await SecretStore.open(path, newPassword);
        this.log("changed the store's password");
        return {};
      }
      case "stop":
        this.log("stopping on request");
        return {};
      default:
        throw new CollectiveError(
          "BAD_REQUEST",
          `unknown request ${JSON.stringify((request as { cmd: string }).cmd).slice(0, 40)}`,
        );
    }
  }
}
