import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { agentClient } from "./agent-client.js";
import { type RunningAgent, startAgent } from "./agent-daemon.js";
import { agentPaths, checkPrivateDir } from "./agent-paths.js";

const kdf = { N: 1024, r: 8, p: 1 };
const A = { file: "/srv/acme.cvl", param: "www.adminpw" };
const B = { file: "/srv/b.cvl", param: "www.adminpw" };

let root: string;
let dir: string;
let store: string;
let agent: RunningAgent | undefined;
let logLines: string[];

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), "cui-agent-"));
  dir = join(root, "run");
  store = join(root, "config", "secrets.store");
  logLines = [];
  agent = await startAgent({ dir, store, kdf, log: (l) => logLines.push(l) });
});
afterEach(async () => {
  await agent?.close();
  rmSync(root, { recursive: true, force: true });
});

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CollectiveError) return error.code;
    throw error;
  }
  return "no error";
}

describe("the user agent", () => {
  it("starts locked in a private directory, with a private socket", async () => {
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "agent.sock")).mode & 0o777).toBe(0o600);
    const client = agentClient({ dir });
    expect(await client.request({ cmd: "status" })).toMatchObject({
      locked: true,
      store,
      storeExists: false,
    });
    for (const request of [
      { cmd: "get", refs: [A] },
      { cmd: "set", ref: A, value: "v" },
      { cmd: "rm", ref: A },
      { cmd: "list" },
    ] as const) {
      expect(await code(client.request(request))).toBe("AGENT_LOCKED");
    }
    expect(await code(client.request({ cmd: "unlock", password: "pw" }))).toBe("STORE_MISSING");
  });

  it("creates, unlocks, serves, locks and stops", async () => {
    const client = agentClient({ dir });
    expect(await client.request({ cmd: "unlock", password: "pw", create: true })).toEqual({
      created: true,
      entries: 0,
    });
    expect(statSync(store).mode & 0o777).toBe(0o600);
    await client.request({ cmd: "set", ref: A, value: "alpha" });
    await client.request({ cmd: "set", ref: B, value: "shared", scope: "ops" });
    expect(await client.request({ cmd: "get", refs: [A, B, { file: "/srv/c.cvl", param: "x" }] })).toEqual({
      values: [
        { ...A, value: "alpha" },
        { ...B, value: "shared", scope: "ops" },
      ],
      missing: [{ file: "/srv/c.cvl", param: "x" }],
    });
    expect(await client.request({ cmd: "list" })).toEqual({
      values: [A],
      links: [{ ...B, scope: "ops" }],
      shared: [{ scope: "ops", name: "adminpw" }],
    });
    expect(await client.request({ cmd: "rm-shared", scope: "ops", name: "adminpw" })).toEqual({
      removed: true,
      links: 1,
    });
    expect(await client.request({ cmd: "rm", ref: A })).toEqual({ removed: true });
    expect(await client.request({ cmd: "lock" })).toEqual({ wasLocked: false });
    expect(await code(client.request({ cmd: "get", refs: [A] }))).toBe("AGENT_LOCKED");
    expect(await code(client.request({ cmd: "unlock", password: "nope" }))).toBe("WRONG_PASSWORD");
    expect(await client.request({ cmd: "unlock", password: "pw" })).toEqual({ created: false, entries: 0 });

    await client.request({ cmd: "stop" });
    await agent!.closed;
    agent = undefined;
    expect(await client.running()).toBe(false);
    expect(await code(client.request({ cmd: "status" }))).toBe("NO_AGENT");
  });

  it("changes the password, locked or unlocked, and keeps saving afterwards", async () => {
    const client = agentClient({ dir });
    await client.request({ cmd: "unlock", password: "old", create: true });
    await client.request({ cmd: "set", ref: A, value: "alpha" });
    expect(await code(client.request({ cmd: "passwd", old: "wrong", new: "new" }))).toBe("WRONG_PASSWORD");
    await client.request({ cmd: "passwd", old: "old", new: "new" });
    await client.request({ cmd: "set", ref: B, value: "bravo" });
    await client.request({ cmd: "lock" });
    expect(await code(client.request({ cmd: "unlock", password: "old" }))).toBe("WRONG_PASSWORD");
    await client.request({ cmd: "unlock", password: "new" });
    expect((await client.request({ cmd: "get", refs: [A, B] })).values.map((v) => v.value)).toEqual([
      "alpha",
      "bravo",
    ]);
  });

  it("refuses a second agent on the same socket, and replaces a stale socket", async () => {
    expect(await code(startAgent({ dir, store, kdf, log: () => {} }))).toBe("AGENT_RUNNING");
    await agent!.close();
    writeFileSync(join(dir, "agent.sock"), "");
    agent = await startAgent({ dir, store, kdf, log: () => {} });
    expect(await agentClient({ dir }).running()).toBe(true);
  });

  it("answers garbage with an error that does not quote it", async () => {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(join(dir, "agent.sock"));
      let text = "";
      socket.on("data", (d) => {
        text += d.toString();
        if (text.includes("\n")) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.write("hunter2-not-json\n");
    });
    expect(JSON.parse(reply)).toEqual({
      ok: false,
      error: { code: "BAD_REQUEST", message: "the request is not valid JSON" },
    });
    expect(reply).not.toContain("hunter2");
  });

  it("reports bad names as errors, not crashes", async () => {
    const client = agentClient({ dir });
    await client.request({ cmd: "unlock", password: "pw", create: true });
    expect(await code(client.request({ cmd: "set", ref: { file: "rel.cvl", param: "x" }, value: "v" }))).toBe(
      "BAD_SECRET_NAME",
    );
    expect(await code(client.request({ cmd: "set", ref: A, value: "v", scope: "no way" }))).toBe(
      "BAD_SECRET_NAME",
    );
    expect(await code(client.request({ cmd: "nonsense" } as never))).toBe("BAD_REQUEST");
  });
});

describe("the agent's directory", () => {
  const cases: Array<[string, (d: string) => void, RegExp]> = [
    ["readable by others", (d) => mkdirSync(d, { mode: 0o755 }), /has mode 0755/],
    [
      "group-writable",
      (d) => {
        mkdirSync(d);
        chmodSync(d, 0o770);
      },
      /has mode 0770/,
    ],
    [
      "a symbolic link",
      (d) => {
        mkdirSync(`${d}-real`, { mode: 0o700 });
        symlinkSync(`${d}-real`, d);
      },
      /symbolic link/,
    ],
    ["a file", (d) => writeFileSync(d, ""), /not a directory/],
  ];
  if (process.getuid?.() === 0) {
    cases.push([
      "owned by another user",
      (d) => {
        mkdirSync(d, { mode: 0o700 });
        chownSync(d, 65534, 65534);
      },
      /owned by uid 65534/,
    ]);
  }

  it.each(cases)(
    "is refused when it is %s, by the agent and by its clients",
    async (_name, make, message) => {
      const d = join(root, "unsafe");
      make(d);
      await expect(startAgent({ dir: d, store, kdf, log: () => {} })).rejects.toThrow(message);
      await expect(agentClient({ dir: d }).request({ cmd: "status" })).rejects.toThrow(message);
      expect(() => checkPrivateDir(d, { create: false })).toThrow(CollectiveError);
    },
  );

  it("is found from COLLECTIVE_AGENT_DIR, XDG_RUNTIME_DIR, or /tmp by uid", () => {
    expect(agentPaths(undefined, { COLLECTIVE_AGENT_DIR: "/x/y" }).socket).toBe("/x/y/agent.sock");
    expect(agentPaths(undefined, { XDG_RUNTIME_DIR: "/run/user/1000" }).dir).toBe(
      "/run/user/1000/collective",
    );
    expect(agentPaths(undefined, {}).dir).toBe(`/tmp/collective-agent-${process.getuid?.()}`);
  });
});
