import { resolve } from "node:path";
import type { Command } from "commander";
import { clientFor } from "../daemon-client.js";

export function registerStop(program: Command): void {
  program
    .command("stop")
    .description("stop the appliance a CVL file started, or one of its components")
    .argument("<file.cvl>", "the CVL file it was started from")
    .argument("[component]", "a dotted component path (g.f is f inside g); a VAN stops with everything in it")
    .addHelpText(
      "after",
      `
Components stop in the reverse of the start order: each gets SIGTERM, then SIGKILL after its
stoptimeout (180 s unless the appliance says otherwise). Stopping the whole appliance also removes
its networks and frees its network ids and addresses. Nothing is left on the host (no namespace,
interface, bridge, firewall rule, mount, loop device or runc state) except the data disks, which stay
for the next start.

Examples:
  cui stop acme.cvl
  cui stop acme.cvl www`,
    )
    .action(async (file: string, component: string | undefined, _options: unknown, command: Command) => {
      const client = await clientFor(command);
      const { ProgressView } = await import("../progress.js");
      const view = new ProgressView();
      const result = await client.operation<{ stopped: string[] }>(
        "/v1/stop",
        { file: resolve(file), ...(component !== undefined ? { component } : {}) },
        (e) => view.update(e),
      );
      process.stdout.write(
        `stopped ${result.stopped.length} component(s)${result.stopped.length ? `: ${result.stopped.map((p) => p || "(root)").join(", ")}` : ""}\n`,
      );
    });
}
