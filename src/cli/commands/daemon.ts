import type { Command } from "commander";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

export function registerDaemon(program: Command): void {
  const daemon = program
    .command("daemon")
    .description("run the utility's daemon (manager and host agent) in the foreground")
    .addHelpText(
      "after",
      `
The daemon holds the utility's state (SQLite under the state directory, /var/lib/collective unless
--state-dir or COLLECTIVE_STATE_DIR says otherwise) and serves the API on the unix socket cui.sock
there (mode 0600, with a bearer token in api.token). Any command that needs it starts it in the
background when none runs, logging to daemon.log; 'cui daemon' runs it in the foreground instead.
SIGTERM or 'cui daemon stop' drains it: requests in flight finish, appliances keep running.

Examples:
  cui daemon                      # foreground, until Ctrl-C
  cui --state-dir /tmp/cv daemon  # a second, separate utility
  cui daemon status --json
  cui daemon stop`,
    )
    .action(async (_options: unknown, command: Command) => {
      const { startDaemon } = await import("../../daemon/daemon.js");
      const { stateDir } = command.optsWithGlobals<{ stateDir?: string }>();
      const running = await startDaemon({ ...(stateDir ? { stateDir } : {}), handleSignals: true });
      process.stderr.write(`cui daemon: serving ${running.paths.socket} (pid ${process.pid})\n`);
      await running.closed;
      process.stderr.write("cui daemon: stopped\n");
    });

  daemon
    .command("stop")
    .description("drain and stop the daemon; appliances keep running")
    .action(async (_options: unknown, command: Command) => {
      const client = await clientFor(command, { autoStart: false });
      await client.call("POST", "/v1/daemon/stop");
      process.stderr.write("cui daemon: stopping\n");
    });

  daemon
    .command("status")
    .description("whether the daemon runs, its pid and version")
    .option("--json", "print as JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const client = await clientFor(command, { autoStart: false });
      const health = await client.call<{ ok: boolean; version: string; pid: number }>("GET", "/v1/health");
      if (options.json) printJson({ ...health, socket: client.paths.socket });
      else
        process.stdout.write(
          `running: pid ${health.pid}, version ${health.version}, socket ${client.paths.socket}\n`,
        );
    });
}
