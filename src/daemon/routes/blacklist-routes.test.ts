/**
 * The blacklist through the API, as `cui blacklist` and `cui start` use it: a real manager, database
 * and repository, with a host agent that only records what it is asked (no root, no runc).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MachineState } from "../../agent/driver.js";
import type { HostAgent, StartMachineRequest } from "../../agent/host-agent.js";
import { valueSource } from "../../cvl/index.js";
import { importResolver } from "../../import-resolver.js";
import { Manager } from "../../manager/manager.js";
import { Operations } from "../../manager/operations.js";
import type { ProgramSource } from "../../manager/programs.js";
import { publish } from "../../repo/publish.js";
import { containerCvl, makeRepository, TempDirs } from "../../repo/repo-test-kit.js";
import { withdrawVersion } from "../../repo/withdraw.js";
import { RepositoryWithdrawals } from "../../repo/withdrawn-versions.js";
import { type Db, openDatabase } from "../../state/database.js";
import { createApi } from "../api.js";
import { statePaths } from "../paths.js";

const TOKEN = "test-token";
const temp = new TempDirs();

/** Records starts and stops; every machine it started runs until stopped. */
class RecordingAgent implements HostAgent {
  readonly started: string[] = [];
  readonly stopped: string[] = [];
  private readonly running = new Set<string>();
  async ensureNetworks(): Promise<void> {}
  async removeNetworks(): Promise<void> {}
  async startMachine(request: StartMachineRequest): Promise<MachineState> {
    this.started.push(request.spec.id);
    this.running.add(request.spec.id);
    return this.state(request.spec.id)!;
  }
  async waitUntilReady(id: string): Promise<MachineState> {
    return this.state(id)!;
  }
  async stopMachine(id: string): Promise<void> {
    this.stopped.push(id);
    this.running.delete(id);
  }
  async inspectMachine(id: string): Promise<MachineState | undefined> {
    return this.state(id);
  }
  async reconfigureMachine(): Promise<void> {}
  async forgetMachine(): Promise<void> {}
  async listMachines(): Promise<MachineState[]> {
    return [...this.running].map((id) => this.state(id)!);
  }
  async *logs(): AsyncIterable<string> {}
  async close(): Promise<void> {}
  private state(id: string): MachineState | undefined {
    if (!this.running.has(id)) return undefined;
    return {
      id,
      driver: "recording",
      status: "running",
      ready: true,
      pid: 1,
      since: new Date(0).toISOString(),
      restarts: 0,
      lastExit: undefined,
      stateDir: "/nonexistent",
    };
  }
}

/** Programs as the host cache would give them, without fetching anything. */
const programs: ProgramSource = {
  async prepare(component) {
    const origin = valueSource(component, "image")?.origin;
    return {
      path: "/nonexistent/rootfs",
      defaults: { args: ["/bin/true"] },
      ...(origin ? { repository: origin.repository, version: origin.version } : {}),
    };
  },
};

interface Setup {
  db: Db;
  agent: RecordingAgent;
  repo: string;
  url: string;
  keyPath: string;
  /** A CVL file with two components of the repository's version `version`. */
  site(name: string, version: number): string;
  request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown; text: string }>;
}

let setup: Setup;

beforeEach(async () => {
  const base = temp.make("blacklist-api");
  const app = join(base, "app");
  mkdirSync(join(app, "rootfs"), { recursive: true });
  writeFileSync(join(app, "rootfs", "f"), "1");
  const { repo, keyPath } = await makeRepository(base);
  const cvl = containerCvl(app, "rootfs", "Web");
  for (let i = 0; i < 3; i++) await publish({ repoDir: repo, cvlPath: cvl, keyPath });
  const db = openDatabase(":memory:");
  const manager = new Manager({ db, resolver: importResolver() });
  const agent = new RecordingAgent();
  const withdrawn = new RepositoryWithdrawals();
  const operations = new Operations({
    db,
    manager,
    agent,
    programs,
    instancesDir: join(base, "instances"),
    withdrawn,
  });
  const api = createApi({
    paths: statePaths(join(base, "state")),
    manager,
    operations,
    agent,
    token: TOKEN,
    version: "test",
    build: "test",
    requestShutdown: () => {},
    db,
    withdrawn,
  });
  setup = {
    db,
    agent,
    repo,
    url: pathToFileURL(repo).href,
    keyPath,
    site(name, version) {
      const file = join(base, `${name}.cvl`);
      writeFileSync(
        file,
        `CVL = "0.8";\nimport { url => "repo", version => "${version}" } Web;\n${name} extends VANAppliance {\n  Web www, blog;\n}\n`,
      );
      return file;
    },
    async request(method, path, body) {
      const response = await api.request(path, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, text };
    },
  };
});

afterEach(() => {
  setup.db.close();
  temp.cleanup();
});

/** The ndjson lines of a streamed operation. */
function lines(text: string): Array<Record<string, unknown>> {
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function outcome(text: string): Record<string, unknown> {
  return lines(text).at(-1)!;
}

describe("the blacklist API", () => {
  it("adds, lists and removes entries, by id or by repository and spec", async () => {
    const { request, url, repo } = setup;
    expect((await request("GET", "/v1/blacklist")).json).toEqual({ entries: [] });
    const added = await request("POST", "/v1/blacklist", {
      repository: `${repo}/`,
      versions: "2 - 3",
      reason: "CVE-1",
    });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ entry: { id: 1, repository: url, versions: "2-3", reason: "CVE-1" } });
    await request("POST", "/v1/blacklist", { repository: url, versions: "all" });
    const list = (await request("GET", "/v1/blacklist")).json as {
      entries: Array<{ id: number; versions: string }>;
    };
    expect(list.entries.map((e) => [e.id, e.versions])).toEqual([
      [1, "2-3"],
      [2, "all"],
    ]);
    expect((await request("DELETE", "/v1/blacklist/1")).json).toMatchObject({ removed: { id: 1 } });
    const byName = await request(
      "DELETE",
      `/v1/blacklist?repository=${encodeURIComponent(repo)}&versions=all`,
    );
    expect(byName.json).toMatchObject({ removed: { id: 2, versions: "all" } });
    expect((await request("GET", "/v1/blacklist")).json).toEqual({ entries: [] });
  });

  it.each([
    [
      "a bad spec",
      "POST",
      "/v1/blacklist",
      { repository: "/srv/repos/dns", versions: "latest" },
      400,
      "BAD_VERSION_SPEC",
      /"latest" is not a version spec/,
    ],
    [
      "a relative repository",
      "POST",
      "/v1/blacklist",
      { repository: "repos/dns", versions: "1" },
      400,
      "BAD_REPOSITORY",
      /a relative path needs a base directory/,
    ],
    ["no repository", "POST", "/v1/blacklist", { versions: "1" }, 400, "BAD_REQUEST", /repository/],
    ["no body", "POST", "/v1/blacklist", undefined, 400, "BAD_REQUEST", /.*/],
    [
      "an unknown id",
      "DELETE",
      "/v1/blacklist/42",
      undefined,
      404,
      "NOT_FOUND",
      /there is no blacklist entry 42/,
    ],
    [
      "an id that is not a number",
      "DELETE",
      "/v1/blacklist/abc",
      undefined,
      400,
      "BAD_REQUEST",
      /an entry id is a whole number/,
    ],
    [
      "an unknown spec",
      "DELETE",
      "/v1/blacklist?repository=%2Fsrv%2Frepos%2Fdns&versions=7",
      undefined,
      404,
      "NOT_FOUND",
      /no blacklist entry for file:\/\/\/srv\/repos\/dns 7/,
    ],
  ])("refuses %s", async (_label, method, path, body, status, code, message) => {
    const response = await setup.request(method, path, body);
    expect(response.status).toBe(status);
    const error = (response.json as { error: { code: string; message: string } }).error;
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it("refuses a duplicate entry, naming the one that exists", async () => {
    await setup.request("POST", "/v1/blacklist", { repository: setup.url, versions: "2", reason: "bad" });
    const again = await setup.request("POST", "/v1/blacklist", { repository: setup.repo, versions: "2" });
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({
      error: { code: "ALREADY_BLACKLISTED", message: `${setup.url} 2 is already blacklisted (entry 1: bad)` },
    });
  });

  it("refuses to start a blacklisted version, naming the entry and its reason, and allocates nothing", async () => {
    const { request, url, agent, db } = setup;
    await request("POST", "/v1/blacklist", { repository: url, versions: "<=2", reason: "CVE-2026-1234" });
    const start = await request("POST", "/v1/start", { file: setup.site("Site", 2) });
    expect(outcome(start.text)).toEqual({
      error: {
        code: "BLACKLISTED",
        message: [
          "refusing to start 2 blacklisted versions in Site:",
          `  www: ${url} version 2 is blacklisted by entry 1 (${url} <=2): CVE-2026-1234`,
          `  blog: ${url} version 2 is blacklisted by entry 1 (${url} <=2): CVE-2026-1234`,
        ].join("\n"),
        hint: `pin another version in the import (import { url => ..., version => "N" }) or, if the administrator agrees, lift the entry: 'cui blacklist remove 1'`,
      },
    });
    expect(agent.started).toEqual([]);
    expect(db.prepare("SELECT COUNT(*) AS n FROM instances").get()).toEqual({ n: 0 });
    expect(db.prepare("SELECT COUNT(*) AS n FROM addresses").get()).toEqual({ n: 0 });
    // Version 3 is not blacklisted: it starts.
    const allowed = await request("POST", "/v1/start", { file: setup.site("Site", 3) });
    expect(outcome(allowed.text)).toHaveProperty("result");
    expect(agent.started).toHaveLength(2);
  });

  it("refuses to start a version its publisher withdrew, with the publisher's reason", async () => {
    await withdrawVersion(setup.repo, 2, setup.keyPath, "leaks the admin password");
    const start = await setup.request("POST", "/v1/start", { file: setup.site("Site", 2) });
    const error = (outcome(start.text) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("BLACKLISTED");
    expect(error.message).toContain(
      `www: ${setup.url} version 2 is withdrawn by the publisher: leaks the admin password`,
    );
    expect(setup.agent.started).toEqual([]);
  });

  it("lists running violators without stopping them, and stops them only when asked", async () => {
    const { request, url, agent } = setup;
    const site = setup.site("Site", 2);
    const other = setup.site("Other", 3);
    expect(outcome((await request("POST", "/v1/start", { file: site })).text)).toHaveProperty("result");
    expect(outcome((await request("POST", "/v1/start", { file: other })).text)).toHaveProperty("result");
    expect((await request("GET", "/v1/blacklist/violations")).json).toEqual({
      violations: [],
      unchecked: [],
    });

    await request("POST", "/v1/blacklist", { repository: url, versions: "2", reason: "CVE-2026-1234" });
    await withdrawVersion(setup.repo, 3, setup.keyPath, "broken");
    const report = (await request("GET", "/v1/blacklist/violations")).json as {
      violations: Array<Record<string, unknown>>;
    };
    expect(report.violations.map((v) => [v.file, v.path, v.version, v.reason])).toEqual([
      [other, "blog", 3, "withdrawn by the publisher: broken"],
      [other, "www", 3, "withdrawn by the publisher: broken"],
      [site, "blog", 2, "CVE-2026-1234"],
      [site, "www", 2, "CVE-2026-1234"],
    ]);
    expect(report.violations[2]).toMatchObject({
      object: "Site",
      repository: url,
      entry: { id: 1, versions: "2" },
    });
    expect(agent.stopped).toEqual([]);

    // Only those asked for...
    const some = await request("POST", "/v1/blacklist/violations/stop", {
      components: [{ file: site, path: "www" }],
    });
    expect(outcome(some.text)).toEqual({ result: { stopped: [{ file: site, path: "www" }], failed: [] } });
    expect(agent.stopped).toHaveLength(1);
    // ...then every one that is left.
    const rest = await request("POST", "/v1/blacklist/violations/stop");
    expect(
      lines(rest.text)
        .filter((l) => l.progress)
        .map((l) => l.progress),
    ).toContainEqual({
      component: "www",
      state: "stopped",
    });
    expect(outcome(rest.text)).toEqual({
      result: {
        stopped: [
          { file: other, path: "blog" },
          { file: other, path: "www" },
          { file: site, path: "blog" },
        ],
        failed: [],
      },
    });
    expect(agent.stopped).toHaveLength(4);
    expect((await request("GET", "/v1/blacklist/violations")).json).toEqual({
      violations: [],
      unchecked: [],
    });
  });

  it("describes its routes in the OpenAPI document", async () => {
    const doc = (await setup.request("GET", "/openapi.json")).json as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith("/v1/blacklist"))).toEqual([
      "/v1/blacklist",
      "/v1/blacklist/{id}",
      "/v1/blacklist/violations",
      "/v1/blacklist/violations/stop",
    ]);
  });
});
