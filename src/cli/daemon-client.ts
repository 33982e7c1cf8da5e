/** The API client for a command, honouring the global --state-dir option. */
import type { Command } from "commander";
import type { ApiClient } from "../daemon/client.js";

export async function clientFor(command: Command, options: { autoStart?: boolean } = {}): Promise<ApiClient> {
  const { apiClient } = await import("../daemon/client.js");
  const { stateDir } = command.optsWithGlobals<{ stateDir?: string }>();
  return apiClient({ ...(stateDir ? { stateDir } : {}), ...options });
}
