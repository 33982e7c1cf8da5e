/**
 * Gathering the values of sensitive parameters before a start, update or rollback: ask the user agent for
 * all of them at once; on a terminal, ask the user for the missing ones (and keep them in the agent); with
 * no terminal, fail once with every missing name and the command that sets it.
 */
import { relative } from "node:path";
import { CollectiveError } from "../errors.js";
import { type AgentClient, agentClient } from "./agent-client.js";
import type { SecretRef } from "./store.js";
import { promptNew, terminal } from "./terminal.js";

/** A sensitive parameter a start needs: the CVL file (absolute), the component's path ("" = root), its name. */
export interface SecretNeed {
  readonly file: string;
  readonly component: string;
  readonly param: string;
}

export interface CollectOptions {
  /** Whether the user can be asked (stdin and stderr are a terminal). */
  readonly interactive: boolean;
  /** Reads a line without echo; the terminal's when absent. */
  readonly prompt?: (question: string) => Promise<string>;
  /** The agent to ask; the default one when absent. */
  readonly agent?: AgentClient;
  /** Where to tell the user what happened (default stderr). */
  readonly say?: (line: string) => void;
}

/** The values, by component path and then parameter name. */
export type CollectedSecrets = Record<string, Record<string, string>>;

export function paramPath(need: Pick<SecretNeed, "component" | "param">): string {
  return need.component === "" ? need.param : `${need.component}.${need.param}`;
}

/** How to name a file for the user: relative to the working directory when that is shorter. */
function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== "" && !rel.startsWith("..") && rel.length < file.length ? rel : file;
}

export async function collectSecrets(
  needs: readonly SecretNeed[],
  options: CollectOptions,
): Promise<CollectedSecrets> {
  const result: CollectedSecrets = {};
  // An appliance without sensitive parameters needs no agent.
  if (needs.length === 0) return result;
  const agent = options.agent ?? agentClient();
  const prompt = options.prompt ?? ((q: string) => terminal.promptHidden(q));
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));

  const byRef = new Map<string, SecretNeed>();
  for (const need of needs) byRef.set(JSON.stringify([need.file, paramPath(need)]), need);
  const refs: SecretRef[] = [...byRef.values()].map((n) => ({ file: n.file, param: paramPath(n) }));
  const put = (ref: SecretRef, value: string) => {
    const need = byRef.get(JSON.stringify([ref.file, ref.param]))!;
    const component = result[need.component] ?? {};
    component[need.param] = value;
    result[need.component] = component;
  };

  await ensureUnlocked(agent, refs, options.interactive, prompt, say);
  const { values, missing } = await agent.request({ cmd: "get", refs });
  for (const v of values) put(v, v.value);
  if (missing.length === 0) return result;

  if (!options.interactive) {
    const lines = missing.map(
      (m) => `  ${shown(m.file)}: ${m.param}${m.scope ? ` (shared scope ${m.scope})` : ""}`,
    );
    const first = missing[0]!;
    throw new CollectiveError(
      "SECRETS_MISSING",
      `the user agent has no value for ${missing.length === 1 ? "this sensitive parameter" : `these ${missing.length} sensitive parameters`}:\n${lines.join("\n")}`,
      {
        hint: `set each with 'cui secret set <file.cvl> <param-path>' (it reads the value from a prompt or stdin), e.g. 'cui secret set ${shown(first.file)} ${first.param}'`,
      },
    );
  }
  for (const m of missing) {
    const value = await promptNew(`value for ${m.param} (${shown(m.file)}): `, prompt, "value", say);
    const ref = { file: m.file, param: m.param };
    await agent.request({ cmd: "set", ref, value, ...(m.scope ? { scope: m.scope } : {}) });
    say(`stored ${m.param} in the user agent`);
    put(ref, value);
  }
  return result;
}

async function ensureUnlocked(
  agent: AgentClient,
  refs: readonly SecretRef[],
  interactive: boolean,
  prompt: (question: string) => Promise<string>,
  say: (line: string) => void,
): Promise<void> {
  const status = await agent.request({ cmd: "status" });
  if (!status.locked) return;
  if (!interactive) {
    throw new CollectiveError(
      "AGENT_LOCKED",
      `the user agent is locked, and ${refs.length === 1 ? "a sensitive parameter needs its value" : `${refs.length} sensitive parameters need their values`}`,
      { hint: "unlock it with 'cui agent unlock' (or 'cui agent unlock --password-stdin' in a script)" },
    );
  }
  if (!status.storeExists) {
    say(`there is no secret store yet; choose a password for ${status.store}`);
    const password = await promptNew("new password for the secret store: ", prompt, "password", say);
    await agent.request({ cmd: "unlock", password, create: true });
    return;
  }
  for (let attempt = 1; ; attempt++) {
    const password = await prompt("password for the secret store: ");
    try {
      await agent.request({ cmd: "unlock", password });
      return;
    } catch (error) {
      if ((error as CollectiveError).code !== "WRONG_PASSWORD" || attempt === 3) throw error;
      say("wrong password; try again");
    }
  }
}
