/**
 * Where the user agent lives. Its socket and log are in a directory only its user can enter (0700, owned
 * by the user, not a symlink): the directory's mode is what keeps other users off the socket, since Node
 * cannot ask a unix socket who is calling. Both the agent and its clients check the directory before they
 * use it, so neither talks through a directory another user prepared (the /tmp fallback is shared).
 *
 *   COLLECTIVE_AGENT_DIR, if set (tests; a second agent)
 *   $XDG_RUNTIME_DIR/collective, when XDG_RUNTIME_DIR is set (a per-user tmpfs under systemd)
 *   /tmp/collective-agent-$UID otherwise (root under sudo often has no /run/user/0)
 *
 * The store file is $XDG_CONFIG_HOME/collective/secrets.store (~/.config/collective/secrets.store).
 */
import { lstatSync, mkdirSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { CollectiveError } from "../errors.js";

export interface AgentPaths {
  readonly dir: string;
  readonly socket: string;
  /** The agent's log when it runs in the background: events and names, never values. */
  readonly log: string;
}

function uid(): number {
  return process.getuid?.() ?? 0;
}

export function agentPaths(dir?: string, env: NodeJS.ProcessEnv = process.env): AgentPaths {
  const chosen = dir ?? defaultAgentDir(env);
  return { dir: chosen, socket: join(chosen, "agent.sock"), log: join(chosen, "agent.log") };
}

function defaultAgentDir(env: NodeJS.ProcessEnv): string {
  if (env.COLLECTIVE_AGENT_DIR) return resolve(env.COLLECTIVE_AGENT_DIR);
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) return join(runtime, "collective");
  // Not os.tmpdir(): TMPDIR may differ between the shell that starts the agent and the one that uses it.
  return join("/tmp", `collective-agent-${uid()}`);
}

export function defaultStorePath(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  return join(config ?? join(env.HOME || homedir() || tmpdir(), ".config"), "collective", "secrets.store");
}

/**
 * Checks that `dir` is a directory of ours that nobody else can enter; creates it (0700) first when
 * `create`. Returns false when it does not exist and was not to be created.
 */
export function checkPrivateDir(dir: string, options: { create: boolean }): boolean {
  if (options.create) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      // Something that is not a directory is in the way: the checks below say what.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  const problem = !stat.isDirectory()
    ? stat.isSymbolicLink()
      ? "is a symbolic link"
      : "is not a directory"
    : stat.uid !== uid()
      ? `is owned by uid ${stat.uid}, not by you (uid ${uid()})`
      : (stat.mode & 0o077) !== 0
        ? `has mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}, so other users can enter it`
        : undefined;
  if (problem) {
    throw new CollectiveError("AGENT_DIR_UNSAFE", `the user agent's directory ${dir} ${problem}`, {
      hint: "the agent only uses a directory of yours with mode 0700; remove it (or fix it) and start the agent again",
    });
  }
  return true;
}
