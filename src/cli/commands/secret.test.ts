/**
 * `cui agent ...` and `cui secret ...` in process, against an agent running in this process on a temporary
 * directory (COLLECTIVE_AGENT_DIR), with the terminal stood in for.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type RunningAgent, startAgent } from "../../secrets/agent-daemon.js";
import { terminal } from "../../secrets/terminal.js";
import { runCui } from "../run-in-process.js";

const kdf = { N: 1024, r: 8, p: 1 };
const cvl = `CVL = "0.8";
Db extends ContainerAppliance {
  var "sensitive" password, replica;
  image = "db.tar";
}
Site extends VANAppliance {
  var "sensitive" adminpw;
  var title;
  Db db;
  db.password = adminpw;
  vanIF = "db.ethernet0";
}
`;

let root: string;
let dir: string;
let store: string;
let log: string;
let agent: RunningAgent | undefined;
let stdin: string[];
const savedDir = process.env.COLLECTIVE_AGENT_DIR;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "cui-secret-cli-"));
  writeFileSync(join(root, "site.cvl"), cvl);
  writeFileSync(join(root, "other.cvl"), cvl);
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  if (savedDir === undefined) delete process.env.COLLECTIVE_AGENT_DIR;
  else process.env.COLLECTIVE_AGENT_DIR = savedDir;
});

beforeEach(async () => {
  dir = mkdtempSync(join(root, "run-"));
  store = join(dir, "..", `${dir.slice(-6)}.store`);
  log = join(dir, "agent.log");
  process.env.COLLECTIVE_AGENT_DIR = dir;
  agent = await startAgent({ dir, store, kdf, log: (line) => appendFileSync(log, `${line}\n`) });
  stdin = [];
  vi.spyOn(terminal, "interactive").mockReturnValue(false);
  vi.spyOn(terminal, "readStdin").mockImplementation(async () => stdin.shift() ?? "");
  vi.spyOn(terminal, "promptHidden").mockRejectedValue(new Error("no prompt expected"));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await agent?.close();
  agent = undefined;
});

async function cui(args: string[], input?: string) {
  if (input !== undefined) stdin.push(input);
  return runCui(args, root);
}

async function unlocked(): Promise<void> {
  expect((await cui(["agent", "unlock", "--password-stdin"], "pw\n")).status).toBe(0);
}

describe("cui agent", () => {
  it("unlock creates the store the first time, then status, lock, wrong password, passwd", async () => {
    expect(JSON.parse((await cui(["agent", "status", "--json"])).stdout)).toMatchObject({
      running: true,
      locked: true,
      storeExists: false,
    });
    const created = await cui(["agent", "unlock", "--password-stdin"], "first pw\nignored\n");
    expect(created.stderr).toContain("created");
    expect((await cui(["agent", "status"])).stdout).toMatch(/unlocked, 0 entries/);
    expect((await cui(["agent", "lock"])).status).toBe(0);
    expect((await cui(["agent", "status"])).stdout).toMatch(/locked/);

    const wrong = await cui(["agent", "unlock", "--password-stdin"], "nope\n");
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain("error: the password does not open the secret store");

    const passwd = await cui(["agent", "passwd", "--password-stdin"], "first pw\nsecond pw\n");
    expect(passwd.stderr).toContain("password changed");
    expect((await cui(["agent", "unlock", "--password-stdin"], "first pw\n")).status).toBe(1);
    expect((await cui(["agent", "unlock", "--password-stdin"], "second pw\n")).status).toBe(0);
  });

  it("asks for a terminal or --password-stdin, never takes a password from argv", async () => {
    const run = await cui(["agent", "unlock"]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("--password-stdin");
    expect((await cui(["agent", "unlock", "--password", "x"])).status).toBe(2);
    expect((await cui(["agent", "unlock", "--password-stdin"], "\n")).status).toBe(2);
  });

  it("unlocks on a terminal with a prompt that does not echo", async () => {
    vi.mocked(terminal.interactive).mockReturnValue(true);
    const answers = ["pw", "pw"];
    vi.mocked(terminal.promptHidden).mockImplementation(async () => answers.shift()!);
    expect((await cui(["agent", "unlock"])).status).toBe(0);
    expect(answers).toEqual([]);
  });

  it("says how to start an agent when none runs, and stop stops it", async () => {
    expect((await cui(["agent", "stop"])).status).toBe(0);
    await agent!.closed;
    agent = undefined;
    const status = await cui(["agent", "status"]);
    expect(status.status).toBe(1);
    expect(status.stdout).toContain("not running");
    const set = await cui(["secret", "set", "site.cvl", "adminpw"], "v");
    expect(set.status).toBe(1);
    expect(set.stderr).toContain("no user agent runs");
    expect(set.stderr).toContain("cui agent start");
  });
});

describe("cui secret", () => {
  it("refuses when the agent is locked, saying how to unlock", async () => {
    const run = await cui(["secret", "set", "site.cvl", "adminpw"], "v");
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("cui agent unlock");
  });

  it("sets from stdin, lists names only, and removes", async () => {
    await unlocked();
    const set = await cui(["secret", "set", "site.cvl", "adminpw"], "value-one\n");
    expect(set.status).toBe(0);
    expect(set.stderr).toContain(`set adminpw for ${join(root, "site.cvl")}`);
    expect((await cui(["secret", "set", "site.cvl", "db.replica"], "value-two")).status).toBe(0);
    const list = await cui(["secret", "list"]);
    expect(list.stdout).toBe(`${join(root, "site.cvl")}  adminpw\n${join(root, "site.cvl")}  db.replica\n`);
    expect(list.stdout + list.stderr).not.toContain("value-");
    expect((await cui(["secret", "rm", "site.cvl", "adminpw"])).status).toBe(0);
    const again = await cui(["secret", "rm", "site.cvl", "adminpw"]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain("has no value for adminpw");
  });

  it.each([
    [["secret", "set", "site.cvl", "title"], 2, "title is not a sensitive parameter", "adminpw, db.replica"],
    [["secret", "set", "site.cvl", "db.password"], 2, "takes its value from adminpw", "adminpw"],
    [["secret", "set", "missing.cvl", "x"], 1, "has errors", "cui check"],
    [["secret", "set", "site.cvl", "bad..path"], 2, "is not a parameter path", "dotted path"],
    [["secret", "set", "--scope", "no way", "site.cvl", "adminpw"], 2, "is not a scope name", "letters"],
    [["secret", "rm", "site.cvl"], 2, "give the CVL file and the parameter path", "--help"],
  ])("cui %j fails (%i) saying %s", async (args, status, message, hint) => {
    await unlocked();
    const run = await cui(args, "v");
    expect(run.status).toBe(status);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain(hint);
  });

  it("--no-check skips evaluating the file", async () => {
    await unlocked();
    expect((await cui(["secret", "set", "--no-check", "missing.cvl", "x"], "v")).status).toBe(0);
  });

  it("shares a value through a scope, and removing the scope unlinks its users", async () => {
    await unlocked();
    await cui(["secret", "set", "--scope", "ops", "site.cvl", "adminpw"], "shared");
    await cui(["secret", "set", "--scope", "ops", "other.cvl", "adminpw"], "shared2");
    const json = JSON.parse((await cui(["secret", "list", "--json"])).stdout);
    expect(json).toEqual({
      params: [
        { file: join(root, "other.cvl"), param: "adminpw", scope: "ops" },
        { file: join(root, "site.cvl"), param: "adminpw", scope: "ops" },
      ],
      shared: [{ scope: "ops", name: "adminpw" }],
    });
    const only = JSON.parse((await cui(["secret", "list", "other.cvl", "--json"])).stdout);
    expect(only.params).toHaveLength(1);
    expect(only.shared).toEqual([]);
    const rm = await cui(["secret", "rm", "--scope", "ops", "adminpw"]);
    expect(rm.stderr).toContain("and 2 links to it");
    expect(JSON.parse((await cui(["secret", "list", "--json"])).stdout)).toEqual({ params: [], shared: [] });
  });

  it("asks twice on a terminal", async () => {
    await unlocked();
    vi.mocked(terminal.interactive).mockReturnValue(true);
    const answers = ["a", "b", "c", "c"];
    vi.mocked(terminal.promptHidden).mockImplementation(async () => answers.shift()!);
    const run = await cui(["secret", "set", "site.cvl", "adminpw"]);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain("did not match");
  });

  it("has help with examples", async () => {
    for (const args of [
      ["agent", "--help"],
      ["agent", "unlock", "--help"],
      ["secret", "set", "--help"],
    ]) {
      const run = await cui(args);
      expect(run.stdout).toContain("Examples:");
    }
    expect((await cui(["agent", "--help"])).stdout).not.toContain("run [options]");
  });
});

describe("canaries", () => {
  it("no value reaches the store file, the agent's log or the CLI's output, in any common encoding", async () => {
    const canaries = ["CANARY-5d1f0e-alpha", "CANARY-93ab2c-bravo", "CANARY-77c4d8-charlie ü"];
    await unlocked();
    const outputs: string[] = [];
    const record = (run: { stdout: string; stderr: string }) => outputs.push(run.stdout, run.stderr);
    record(await cui(["secret", "set", "site.cvl", "adminpw"], `${canaries[0]}\n`));
    record(await cui(["secret", "set", "site.cvl", "db.replica"], canaries[1]));
    record(await cui(["secret", "set", "--scope", "ops", "other.cvl", "adminpw"], canaries[2]));
    record(await cui(["secret", "list", "--json"]));
    record(await cui(["secret", "list"]));
    record(await cui(["agent", "status", "--json"]));
    record(await cui(["agent", "lock"]));
    const places = [readFileSync(store, "utf8"), readFileSync(log, "utf8"), ...outputs];
    for (const name of readdirSync(dir))
      if (name !== "agent.sock") places.push(readFileSync(join(dir, name), "utf8"));
    for (const canary of canaries) {
      const bytes = Buffer.from(canary);
      const forms = [
        canary,
        bytes.toString("base64"),
        bytes.toString("base64url"),
        bytes.toString("hex"),
        bytes.toString("hex").toUpperCase(),
        encodeURIComponent(canary),
        JSON.stringify(canary).slice(1, -1),
      ];
      for (const place of places) for (const form of forms) expect(place).not.toContain(form);
    }
    // ...and they are there for whoever unlocks.
    await unlocked();
    const { agentClient } = await import("../../secrets/agent-client.js");
    const got = await agentClient({ dir }).request({
      cmd: "get",
      refs: [{ file: join(root, "other.cvl"), param: "adminpw" }],
    });
    expect(got.values[0]?.value).toBe(canaries[2]);
  });
});
