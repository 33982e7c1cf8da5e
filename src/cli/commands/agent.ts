import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import { printJson } from "../output.js";

const files = `
Files:
  the socket and the log: $XDG_RUNTIME_DIR/collective/ when XDG_RUNTIME_DIR is set, otherwise
    /tmp/collective-agent-$UID/ (COLLECTIVE_AGENT_DIR overrides both); the directory must be yours
    and mode 0700, or the agent and cui refuse to use it
  the store: $XDG_CONFIG_HOME/collective/secrets.store (~/.config/collective/secrets.store), or --store
See docs/secrets.md for what the agent protects, and from whom.`;

interface PasswordOptions {
  passwordStdin?: boolean;
}

async function secrets() {
  const [{ agentClient }, terminal] = await Promise.all([
    import("../../secrets/agent-client.js"),
    import("../../secrets/terminal.js"),
  ]);
  return { client: agentClient(), ...terminal };
}

function noTerminal(): CollectiveError {
  return new CollectiveError("NO_TERMINAL", "there is no terminal to ask for the password", {
    hint: "give it on stdin with --password-stdin (never on the command line)",
    exitCode: 2,
  });
}

export function registerAgent(program: Command): void {
  const agent = program
    .command("agent")
    .description("the user agent: keeps the values of sensitive parameters, encrypted with your password")
    .addHelpText(
      "after",
      `
The user agent is a per-user background process, like ssh-agent. It keeps the values of sensitive
parameters (CVL 'var "sensitive"') in a store file encrypted with your password. Locked, it holds
nothing; unlocked, it holds the decrypted values in memory and hands them to 'cui start' and
'cui update', which pass them to the utility. Set values with 'cui secret set'.
${files}

Examples:
  cui agent start && cui agent unlock
  cui agent status
  cui agent lock`,
    );

  agent
    .command("start")
    .description("start the user agent in the background (locked)")
    .option("--store <file>", "the encrypted store file (default ~/.config/collective/secrets.store)")
    .addHelpText(
      "after",
      `
Starts the agent detached from the terminal, logging to agent.log next to its socket (events and
parameter names, never values). It starts locked: 'cui agent unlock' opens the store (and creates
it, asking for a new password, the first time). Starting an agent that runs already is not an error.

Examples:
  cui agent start
  cui agent start --store /media/usb/secrets.store`,
    )
    .action(async (options: { store?: string }) => {
      const { client } = await secrets();
      const { resolve } = await import("node:path");
      const { defaultStorePath } = await import("../../secrets/agent-paths.js");
      if (await client.running()) {
        const status = await client.request({ cmd: "status" });
        process.stderr.write(`cui agent: already running (pid ${status.pid}), store ${status.store}\n`);
        return;
      }
      const { startBackgroundAgent } = await import("../../secrets/agent-start.js");
      const store = options.store ? resolve(options.store) : defaultStorePath();
      const pid = await startBackgroundAgent(client, store);
      process.stderr.write(`cui agent: started (pid ${pid}), locked; unlock it with 'cui agent unlock'\n`);
    });

  agent
    .command("run", { hidden: true })
    .description("run the user agent in the foreground (what 'cui agent start' runs)")
    .option("--store <file>", "the encrypted store file")
    .action(async (options: { store?: string }) => {
      const { resolve } = await import("node:path");
      const { defaultStorePath } = await import("../../secrets/agent-paths.js");
      const { startAgent } = await import("../../secrets/agent-daemon.js");
      const running = await startAgent({
        store: options.store ? resolve(options.store) : defaultStorePath(),
      });
      const stop = () => void running.close();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      await running.closed;
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    });

  agent
    .command("stop")
    .description("stop the user agent (it forgets every value it held)")
    .action(async () => {
      const { client } = await secrets();
      await client.request({ cmd: "stop" });
      process.stderr.write("cui agent: stopped\n");
    });

  agent
    .command("status")
    .description("whether the agent runs and is unlocked")
    .option("--json", "print as JSON")
    .addHelpText(
      "after",
      `
Exit status: 0 when an agent runs (locked or not), 1 when none does.

Examples:
  cui agent status
  cui agent status --json | jq .locked`,
    )
    .action(async (options: { json?: boolean }) => {
      const { client } = await secrets();
      const running = await client.running();
      const status = running ? await client.request({ cmd: "status" }) : undefined;
      if (options.json) printJson({ running, socket: client.paths.socket, ...status });
      else if (!status) process.stdout.write(`not running (no socket at ${client.paths.socket})\n`);
      else {
        const state = status.locked ? "locked" : `unlocked, ${status.entries ?? 0} entries`;
        const store = status.storeExists ? status.store : `${status.store} (not created yet)`;
        process.stdout.write(
          `running: pid ${status.pid}, ${state}\nstore: ${store}\nsocket: ${client.paths.socket}\n`,
        );
      }
      if (!running) process.exitCode = 1;
    });

  agent
    .command("lock")
    .description("make the agent forget the decrypted values (the store file stays)")
    .action(async () => {
      const { client } = await secrets();
      await client.request({ cmd: "lock" });
      process.stderr.write("cui agent: locked\n");
    });

  agent
    .command("unlock")
    .description("give the agent the store's password; the first time, create the store")
    .option("--password-stdin", "read the password from the first line of stdin (for scripts)")
    .addHelpText(
      "after",
      `
Asks for the password without echo. When the store does not exist yet, it is created with the
password you choose (asked twice). The password is never accepted on the command line or from an
environment variable: other users can read those.

Examples:
  cui agent unlock
  pass show collective | cui agent unlock --password-stdin`,
    )
    .action(async (options: PasswordOptions) => {
      const { client, terminal, stdinLines, promptNew } = await secrets();
      const status = await client.request({ cmd: "status" });
      const create = !status.storeExists;
      if (options.passwordStdin) {
        const [password] = await stdinLines(1, "the password");
        await client.request({ cmd: "unlock", password: password!, create });
      } else if (!terminal.interactive()) {
        throw noTerminal();
      } else if (create) {
        process.stderr.write(`there is no secret store yet; choose a password for ${status.store}\n`);
        const password = await promptNew("new password: ", (q) => terminal.promptHidden(q), "password");
        await client.request({ cmd: "unlock", password, create });
      } else {
        for (let attempt = 1; ; attempt++) {
          const password = await terminal.promptHidden("password for the secret store: ");
          try {
            await client.request({ cmd: "unlock", password });
            break;
          } catch (error) {
            if ((error as CollectiveError).code !== "WRONG_PASSWORD" || attempt === 3) throw error;
            process.stderr.write("wrong password; try again\n");
          }
        }
      }
      process.stderr.write(
        create ? `cui agent: created ${status.store}; unlocked\n` : "cui agent: unlocked\n",
      );
    });

  agent
    .command("passwd")
    .description("change the store's password (re-encrypts the data key, not the values)")
    .option("--password-stdin", "read the old password, then the new one, from the first two lines of stdin")
    .addHelpText(
      "after",
      `
The values are sealed with a random data key; the password only protects that key. Changing it
rewrites the key's wrapping and leaves every value as it is. The agent may be locked or unlocked.

Examples:
  cui agent passwd
  printf '%s\\n%s\\n' "$old" "$new" | cui agent passwd --password-stdin`,
    )
    .action(async (options: PasswordOptions) => {
      const { client, terminal, stdinLines, promptNew } = await secrets();
      let old: string;
      let next: string;
      if (options.passwordStdin) {
        [old, next] = (await stdinLines(2, "the old password and the new one")) as [string, string];
      } else if (!terminal.interactive()) {
        throw noTerminal();
      } else {
        old = await terminal.promptHidden("current password: ");
        next = await promptNew("new password: ", (q) => terminal.promptHidden(q), "password");
      }
      await client.request({ cmd: "passwd", old, new: next });
      process.stderr.write("cui agent: password changed\n");
    });
}
