import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { type AgentClient, agentClient } from "./agent-client.js";
import { type RunningAgent, startAgent } from "./agent-daemon.js";
import { collectSecrets, type SecretNeed } from "./collect.js";

const kdf = { N: 1024, r: 8, p: 1 };
const file = "/srv/acme.cvl";
const needs: SecretNeed[] = [
  { file, component: "www", param: "adminpw" },
  { file, component: "", param: "rootpw" },
  { file, component: "d.db", param: "password" },
  { file, component: "www", param: "adminpw" },
];

let root: string;
let agent: RunningAgent;
let client: AgentClient;
beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), "cui-collect-"));
  agent = await startAgent({
    dir: join(root, "run"),
    store: join(root, "secrets.store"),
    kdf,
    log: () => {},
  });
  client = agentClient({ dir: join(root, "run") });
});
afterEach(async () => {
  await agent.close();
  rmSync(root, { recursive: true, force: true });
});

/** A prompt that answers from a script and records the questions. */
function scripted(answers: string[]): { prompt: (q: string) => Promise<string>; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    prompt: async (q) => {
      asked.push(q);
      const answer = answers.shift();
      if (answer === undefined) throw new Error(`unexpected prompt: ${q}`);
      return answer;
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<CollectiveError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CollectiveError) return error;
    throw error;
  }
  throw new Error("expected a CollectiveError");
}

async function unlockWith(values: Record<string, string>): Promise<void> {
  await client.request({ cmd: "unlock", password: "pw", create: true });
  for (const [param, value] of Object.entries(values)) {
    await client.request({ cmd: "set", ref: { file, param }, value });
  }
}

const said: string[] = [];
const say = (line: string) => said.push(line);

describe("collectSecrets", () => {
  it("needs no agent when nothing is sensitive", async () => {
    const none = agentClient({ dir: join(root, "absent") });
    expect(await collectSecrets([], { interactive: false, agent: none })).toEqual({});
    expect((await failure(collectSecrets(needs, { interactive: false, agent: none }))).code).toBe("NO_AGENT");
  });

  it("returns every value by component and parameter", async () => {
    await unlockWith({ "www.adminpw": "a", rootpw: "r", "d.db.password": "p" });
    expect(await collectSecrets(needs, { interactive: false, agent: client })).toEqual({
      www: { adminpw: "a" },
      "": { rootpw: "r" },
      "d.db": { password: "p" },
    });
  });

  it("without a terminal, fails once listing every missing parameter and how to set it", async () => {
    await unlockWith({ "www.adminpw": "a" });
    const error = await failure(collectSecrets(needs, { interactive: false, agent: client }));
    expect(error.code).toBe("SECRETS_MISSING");
    expect(error.message).toContain("these 2 sensitive parameters");
    expect(error.message).toContain("/srv/acme.cvl: rootpw");
    expect(error.message).toContain("/srv/acme.cvl: d.db.password");
    expect(error.hint).toContain("cui secret set /srv/acme.cvl rootpw");
  });

  it("without a terminal, a locked agent is AGENT_LOCKED", async () => {
    await unlockWith({});
    await client.request({ cmd: "lock" });
    const error = await failure(collectSecrets(needs, { interactive: false, agent: client }));
    expect(error.code).toBe("AGENT_LOCKED");
    expect(error.hint).toContain("cui agent unlock");
  });

  it("on a terminal, unlocks (retrying a wrong password), asks for missing values twice and keeps them", async () => {
    await unlockWith({ "www.adminpw": "a" });
    await client.request({ cmd: "lock" });
    const { prompt, asked } = scripted(["wrong", "pw", "r1", "r1", "p1", "typo", "p1", "p1"]);
    const values = await collectSecrets(needs, { interactive: true, agent: client, prompt, say });
    expect(values).toEqual({ www: { adminpw: "a" }, "": { rootpw: "r1" }, "d.db": { password: "p1" } });
    expect(asked.filter((q) => q.startsWith("password"))).toHaveLength(2);
    expect(asked).toContain("value for d.db.password (/srv/acme.cvl): ");
    expect(said).toContain("wrong password; try again");
    // Kept: a second run asks nothing.
    expect(await collectSecrets(needs, { interactive: false, agent: client })).toEqual(values);
  });

  it("on a terminal with no store yet, creates one with a confirmed password", async () => {
    const { prompt } = scripted(["new", "new", "a", "a", "r", "r", "p", "p"]);
    await collectSecrets(needs, { interactive: true, agent: client, prompt, say });
    expect(await client.request({ cmd: "status" })).toMatchObject({ locked: false, storeExists: true });
    await client.request({ cmd: "lock" });
    await client.request({ cmd: "unlock", password: "new" });
  });
});
