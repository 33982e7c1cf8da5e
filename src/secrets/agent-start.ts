/**
 * `cui agent start`: runs `cui agent run` as a detached child (its own session, so it outlives the shell),
 * its output going to the log in the agent's directory, and waits until it answers. No secret is in its
 * argv or environment: it starts locked.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CollectiveError } from "../errors.js";
import type { AgentClient } from "./agent-client.js";
import { checkPrivateDir } from "./agent-paths.js";

export async function startBackgroundAgent(client: AgentClient, store: string): Promise<number> {
  const { paths } = client;
  checkPrivateDir(paths.dir, { create: true });
  const log = openSync(paths.log, "a", 0o600);
  // From dist/src/secrets/ (the built CLI, which is what bin/cui.js runs).
  const cli = fileURLToPath(new URL("../../../bin/cui.js", import.meta.url));
  const child = spawn(process.execPath, [cli, "agent", "run", "--store", store], {
    detached: true,
    stdio: ["ignore", log, log],
    // The same directory whatever XDG_RUNTIME_DIR the child would see.
    env: { ...process.env, COLLECTIVE_AGENT_DIR: paths.dir },
  });
  closeSync(log);
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
        "AGENT_DOWN",
        `the user agent exited (status ${exited}) instead of starting:\n  ${tail}`,
        {
          hint: `its whole log is ${paths.log}`,
        },
      );
    }
    const status = await client.request({ cmd: "status" }, { timeoutMs: 2_000 }).catch((error: unknown) => {
      if ((error as CollectiveError).code === "NO_AGENT") return undefined;
      throw error;
    });
    if (status) return status.pid;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new CollectiveError("AGENT_DOWN", "the user agent did not start within 15 s", {
    hint: `see its log: ${paths.log}`,
  });
}
