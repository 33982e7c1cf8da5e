/**
 * Before `cui start` and `cui update` talk to the daemon: the values of the appliance's sensitive
 * parameters, from the user agent (secrets/collect.ts). Required ones must be there (asked for on a
 * terminal, an error naming each one otherwise); optional ones are taken when the agent has them and
 * left out when it has not, or when there is no agent at all. The values go to the daemon in the body
 * of the authenticated request on its unix socket, and nowhere else.
 */
import type { ApiClient } from "../daemon/client.js";
import type { CollectedSecrets } from "../secrets/collect.js";

interface Need {
  component: string;
  param: string;
  required: boolean;
}

export async function gatherSecrets(
  client: ApiClient,
  file: string,
  object?: string,
): Promise<CollectedSecrets | undefined> {
  const query = `?file=${encodeURIComponent(file)}${object ? `&object=${encodeURIComponent(object)}` : ""}`;
  const { needs } = await client.call<{ needs: Need[] }>("GET", `/v1/secrets/needs${query}`);
  if (needs.length === 0) return undefined;
  const { collectSecrets, paramPath } = await import("../secrets/collect.js");
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  const required = needs
    .filter((n) => n.required)
    .map((n) => ({ file, component: n.component, param: n.param }));
  const values = await collectSecrets(required, { interactive });
  const optional = needs.filter((n) => !n.required);
  if (optional.length > 0) {
    const { agentClient } = await import("../secrets/agent-client.js");
    try {
      const agent = agentClient();
      if (!(await agent.request({ cmd: "status" })).locked) {
        const refs = optional.map((n) => ({ file, param: paramPath(n) }));
        const { values: found } = await agent.request({ cmd: "get", refs });
        for (const v of found) {
          const need = optional.find((n) => paramPath(n) === v.param)!;
          values[need.component] = { ...values[need.component], [need.param]: v.value };
        }
      }
    } catch (error) {
      // No agent, or one that cannot answer: optional values are simply not delivered.
      if ((error as { code?: string }).code === undefined) throw error;
    }
  }
  return values;
}
