/** `cui blacklist` against a daemon in this process, as an administrator types it. */
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../daemon/daemon.js";
import { statePaths } from "../../daemon/paths.js";
import { openDatabase } from "../../state/database.js";
import { type CliRun, runCui } from "../run-in-process.js";

let dir = "";
let stateDir = "";
let daemon: RunningDaemon | undefined;

function cui(...args: string[]): Promise<CliRun> {
  return runCui(["--state-dir", stateDir, ...args], dir);
}

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "cui-blacklist-")));
  stateDir = join(dir, "state");
  mkdirSync(join(dir, "repos", "dns"), { recursive: true });
  daemon = await startDaemon({ stateDir });
});

afterAll(async () => {
  await daemon?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("cui blacklist", () => {
  const dns = () => pathToFileURL(join(dir, "repos", "dns")).href;

  it("adds an entry for a repository named by a relative path, lists it and removes it", async () => {
    const added = await cui("blacklist", "add", "repos/dns/", "3-5", "--reason", "CVE-2026-1234");
    expect(added).toMatchObject({ status: 0, stderr: "" });
    expect(added.stdout).toBe(`blacklisted ${dns()} 3-5 (entry 1): CVE-2026-1234\n`);
    await cui("blacklist", "add", "https://apps.example.org/web/", "all");

    const list = await cui("blacklist", "list");
    const rows = list.stdout.trimEnd().split("\n");
    expect(rows[0]).toMatch(/^ID\s+REPOSITORY\s+VERSIONS\s+ADDED\s+REASON$/);
    expect(rows[1]).toMatch(new RegExp(`^1\\s+${dns()}\\s+3-5\\s+\\S+ \\S+\\s+CVE-2026-1234$`));
    expect(rows[2]).toMatch(/^2\s+https:\/\/apps\.example\.org\/web\s+all\s+\S+ \S+$/);
    const json = JSON.parse((await cui("blacklist", "list", "--json")).stdout);
    expect(json.entries.map((e: { repository: string }) => e.repository)).toEqual([
      dns(),
      "https://apps.example.org/web",
    ]);

    expect((await cui("blacklist", "remove", join(dir, "repos", "dns"), "3-5")).stdout).toBe(
      `removed entry 1: ${dns()} 3-5\n`,
    );
    expect((await cui("blacklist", "remove", "2")).stdout).toBe(
      "removed entry 2: https://apps.example.org/web all\n",
    );
    expect((await cui("blacklist", "list")).stdout).toBe("the blacklist is empty\n");
  });

  it.each([
    [["add", "repos/dns", "latest"], 2, /error: "latest" is not a version spec: unknown form/],
    [["add", "repos/dns", "5-3"], 2, /the range ends \(3\) before it starts \(5\)/],
    [["add", "ftp://host/dns", "1"], 2, /the scheme ftp: is not supported/],
    [["remove", "42"], 1, /error: there is no blacklist entry 42\n.*cui blacklist list/s],
    [
      ["remove", "repos/dns"],
      2,
      /"repos\/dns" is not an entry id; to remove by repository, give its version spec too/,
    ],
    [["remove", "repos/dns", "9"], 1, /there is no blacklist entry for file:\/\/.*\/repos\/dns 9/],
  ])("cui blacklist %j fails with status %i and says why", async (args, status, says) => {
    const run = await cui("blacklist", ...args);
    expect(run.status).toBe(status);
    expect(run.stderr).toMatch(says);
    expect(run.stdout).toBe("");
  });

  it("says when nothing violates, and stops nothing", async () => {
    expect(await cui("blacklist", "violations")).toMatchObject({ status: 0, stdout: "no violations\n" });
    expect(await cui("blacklist", "violations", "--stop")).toMatchObject({
      status: 0,
      stdout: "no violations\n",
    });
    expect(JSON.parse((await cui("blacklist", "violations", "--json")).stdout)).toEqual({
      violations: [],
      unchecked: [],
    });
  });

  it("lists a running violator in a table, and will not stop it without a terminal or --yes", async () => {
    // A component recorded as running version 4 of the repository, as a start records it.
    const db = openDatabase(statePaths(stateDir).database);
    try {
      const now = new Date().toISOString();
      db.prepare(
        "INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES ('i1', '/srv/acme.cvl', 'Acme', 'running', '{}', ?, ?)",
      ).run(now, now);
      db.prepare(
        "INSERT INTO components (instance_id, path, kind, state, desired, repository, version, since) VALUES ('i1', 'd', 'container', 'running', 'running', ?, 4, ?)",
      ).run(dns(), now);
    } finally {
      db.close();
    }
    await cui("blacklist", "add", "repos/dns", "<=4", "--reason", "open resolver");
    const listed = await cui("blacklist", "violations");
    expect(listed.status).toBe(0);
    expect(listed.stdout.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^FILE\s+COMPONENT\s+REPOSITORY\s+VERSION\s+ENTRY\s+REASON$/),
      expect.stringMatching(
        new RegExp(`^/srv/acme\\.cvl\\s+d\\s+${dns()}\\s+4\\s+\\d+ \\(<=4\\)\\s+open resolver$`),
      ),
    ]);
    const refused = await cui("blacklist", "violations", "--stop");
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(
      "error: --stop would stop 1 component(s), and there is no terminal to ask",
    );
    expect(refused.stderr).toContain("--yes");
    const json = JSON.parse((await cui("blacklist", "violations", "--json")).stdout);
    expect(json.violations).toMatchObject([
      { file: "/srv/acme.cvl", path: "d", version: 4, reason: "open resolver" },
    ]);
  });

  it("documents the grammar and examples in its help", async () => {
    const help = await cui("blacklist", "--help");
    expect(help.stdout).toContain("3-5      versions 3, 4 and 5");
    expect(help.stdout).toContain("cui blacklist violations --stop");
    expect((await cui("blacklist", "violations", "--help")).stdout).toContain("needs --yes");
  });
});
