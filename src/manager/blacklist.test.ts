import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { evaluateFile } from "../cvl/index.js";
import { CollectiveError } from "../errors.js";
import { importResolver } from "../import-resolver.js";
import { publish } from "../repo/publish.js";
import { containerCvl, makeRepository, TempDirs } from "../repo/repo-test-kit.js";
import { withdrawVersion } from "../repo/withdraw.js";
import { RepositoryWithdrawals } from "../repo/withdrawn-versions.js";
import { type Db, openDatabase } from "../state/database.js";
import {
  addBlacklistEntry,
  assertAllowed,
  blacklistMatch,
  formatVersionSpec,
  listBlacklist,
  normaliseRepository,
  parseVersionSpec,
  programOrigins,
  removeBlacklistEntry,
  specMatches,
  violations,
  type WithdrawnVersions,
} from "./blacklist.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

const DNS = "https://apps.example.org/dns";
const WEB = "file:///srv/repos/web";

function fakeWithdrawn(notices: Record<string, Record<number, string>>): WithdrawnVersions & {
  asked: string[];
} {
  const asked: string[] = [];
  return {
    asked,
    withdrawn: async (repository) => {
      asked.push(repository);
      if (repository.includes("unreachable")) throw new Error("connection refused");
      return new Map(Object.entries(notices[repository] ?? {}).map(([v, r]) => [Number(v), r]));
    },
  };
}

async function caught(promise: Promise<unknown>): Promise<CollectiveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CollectiveError);
  return error as CollectiveError;
}

function thrown(fn: () => unknown): CollectiveError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CollectiveError);
    return error as CollectiveError;
  }
  throw new Error("expected an error");
}

describe("version specs", () => {
  it.each([
    ["7", [7], [6, 8]],
    ["3-5", [3, 4, 5], [2, 6]],
    [" 3 - 5 ", [3, 5], [6]],
    ["5-5", [5], [4, 6]],
    ["<4", [1, 3], [4, 5]],
    ["<=4", [1, 4], [5]],
    [">2", [3, 1000], [1, 2]],
    [">=2", [2, 3], [1]],
    [">=0", [1, 2], []],
    ["all", [1, 2, 99999], []],
  ])("%s matches %j and not %j", (text, yes, no) => {
    const spec = parseVersionSpec(text);
    for (const v of yes) expect(specMatches(spec, v), `${text} should match ${v}`).toBe(true);
    for (const v of no) expect(specMatches(spec, v), `${text} should not match ${v}`).toBe(false);
  });

  it.each([
    ["", /"" is not a version spec: it is empty/],
    ["latest", /"latest" is not a version spec: unknown form/],
    ["0", /versions are numbered from 1/],
    ["5-3", /the range ends \(3\) before it starts \(5\)/],
    ["<1", /it matches no version/],
    ["<=0", /it matches no version/],
    ["1.5", /unknown form/],
    ["-3", /unknown form/],
    ["3-", /unknown form/],
    ["=3", /unknown form/],
    ["ALL", /unknown form/],
    ["99999999999999999999", /is not a whole number/],
  ])("refuses %j, naming it and the grammar", (text, message) => {
    const error = thrown(() => parseVersionSpec(text));
    expect(error.code).toBe("BAD_VERSION_SPEC");
    expect(error.message).toMatch(message);
    expect(error.hint).toContain("N-M (inclusive), <N, <=N, >N, >=N or all");
  });

  it.each([
    ["3 - 05", "3-5"],
    ["<= 4", "<=4"],
    ["<5", "<5"],
    ["007", "7"],
    ["all", "all"],
  ])("stores %j as %j", (text, stored) => {
    expect(formatVersionSpec(text)).toBe(stored);
  });
});

describe("repository identity", () => {
  it.each([
    ["https://apps.example.org/dns", "https://apps.example.org/dns"],
    ["https://apps.example.org/dns/", "https://apps.example.org/dns"],
    ["HTTPS://Apps.Example.org:443/dns//", "https://apps.example.org/dns"],
    ["http://host:8080/a%20b", "http://host:8080/a%20b"],
    ["/srv/repos/dns-nonexistent", "file:///srv/repos/dns-nonexistent"],
    ["/srv/repos/dns-nonexistent/", "file:///srv/repos/dns-nonexistent"],
    ["/srv/repos/../repos/dns-nonexistent", "file:///srv/repos/dns-nonexistent"],
    ["file:///srv/repos/dns-nonexistent/", "file:///srv/repos/dns-nonexistent"],
    ["/srv/my repos/dns-nonexistent", "file:///srv/my%20repos/dns-nonexistent"],
  ])("names %j as %j", (location, expected) => {
    expect(normaliseRepository(location)).toBe(expected);
  });

  it("takes relative paths from a base directory, and follows symbolic links of directories that exist", () => {
    const base = realpathSync(temp.make("identity"));
    mkdirSync(join(base, "repos", "dns"), { recursive: true });
    symlinkSync(join(base, "repos"), join(base, "link"));
    const real = pathToFileURL(join(base, "repos", "dns")).href;
    expect(normaliseRepository("repos/dns", base)).toBe(real);
    expect(normaliseRepository("link/dns/", base)).toBe(real);
    expect(normaliseRepository(pathToFileURL(join(base, "link", "dns")).href)).toBe(real);
  });

  it.each([
    ["", /it is empty/],
    ["repos/dns", /a relative path needs a base directory/],
    ["ftp://host/dns", /the scheme ftp: is not supported/],
    ["https://host/dns?x=1", /no query or fragment/],
    ["http://[bad/", /not a valid URL/],
  ])("refuses %j", (location, message) => {
    const error = thrown(() => normaliseRepository(location));
    expect(error.code).toBe("BAD_REPOSITORY");
    expect(error.message).toMatch(message);
  });
});

describe("the blacklist entries", () => {
  let db: Db;
  afterEach(() => db?.close());

  it("adds, lists, matches and removes entries by id or by repository and spec", () => {
    db = openDatabase(":memory:");
    const a = addBlacklistEntry(db, { repository: `${DNS}/`, versions: "3 - 5", reason: "CVE-2026-1234" });
    const b = addBlacklistEntry(db, { repository: WEB, versions: "all" });
    expect(a).toMatchObject({ repository: DNS, versions: "3-5", reason: "CVE-2026-1234" });
    expect(b).toMatchObject({ repository: WEB, versions: "all", reason: null });
    expect(listBlacklist(db).map((e) => [e.id, e.repository, e.versions])).toEqual([
      [a.id, DNS, "3-5"],
      [b.id, WEB, "all"],
    ]);
    expect(blacklistMatch(db, DNS, 4)?.id).toBe(a.id);
    expect(blacklistMatch(db, "HTTPS://apps.example.org/dns/", 5)?.id).toBe(a.id);
    expect(blacklistMatch(db, DNS, 6)).toBeUndefined();
    expect(blacklistMatch(db, "https://apps.example.org/dhcp", 4)).toBeUndefined();
    expect(blacklistMatch(db, `${WEB}/`, 1)?.id).toBe(b.id);

    expect(removeBlacklistEntry(db, a.id)).toMatchObject({ id: a.id, versions: "3-5" });
    expect(removeBlacklistEntry(db, { repository: "/srv/repos/web/", versions: "all" }).id).toBe(b.id);
    expect(listBlacklist(db)).toEqual([]);
  });

  it("refuses a duplicate, an unknown id, an unknown spec and a bad spec, saying what exists", () => {
    db = openDatabase(":memory:");
    const a = addBlacklistEntry(db, { repository: DNS, versions: "7", reason: "broken" });
    const duplicate = thrown(() => addBlacklistEntry(db, { repository: `${DNS}/`, versions: "07" }));
    expect(duplicate.code).toBe("ALREADY_BLACKLISTED");
    expect(duplicate.message).toBe(`${DNS} 7 is already blacklisted (entry ${a.id}: broken)`);

    const unknown = thrown(() => removeBlacklistEntry(db, 42));
    expect(unknown.code).toBe("NOT_FOUND");
    expect(unknown.message).toBe("there is no blacklist entry 42");

    const otherSpec = thrown(() => removeBlacklistEntry(db, { repository: DNS, versions: "8" }));
    expect(otherSpec.message).toBe(`there is no blacklist entry for ${DNS} 8; its entries are ${a.id} (7)`);

    expect(thrown(() => addBlacklistEntry(db, { repository: DNS, versions: "x" })).code).toBe(
      "BAD_VERSION_SPEC",
    );
    expect(listBlacklist(db)).toHaveLength(1);
  });
});

describe("assertAllowed", () => {
  let db: Db;
  afterEach(() => db?.close());

  it("allows versions that are neither blacklisted nor withdrawn, asking each repository once", async () => {
    db = openDatabase(":memory:");
    addBlacklistEntry(db, { repository: DNS, versions: "<3" });
    const withdrawn = fakeWithdrawn({ [WEB]: { 2: "broken" } });
    await assertAllowed(db, withdrawn, [
      { path: "d", repository: DNS, version: 3 },
      { path: "www", repository: WEB, version: 3 },
      { path: "blog", repository: WEB, version: 4 },
    ]);
    expect(withdrawn.asked.sort()).toEqual([DNS, WEB].sort());
    await assertAllowed(db, undefined, [{ path: "d", repository: DNS, version: 3 }]);
  });

  it("refuses with one error naming every offender, its entry or withdrawal, the reason and what to do", async () => {
    db = openDatabase(":memory:");
    const entry = addBlacklistEntry(db, { repository: DNS, versions: "3-5", reason: "CVE-2026-1234" });
    const withdrawn = fakeWithdrawn({ [WEB]: { 7: "leaks the admin password" } });
    const error = await caught(
      assertAllowed(
        db,
        withdrawn,
        [
          { path: "d", repository: DNS, version: 4 },
          { path: "www", repository: WEB, version: 7 },
          { path: "blog", repository: WEB, version: 8 },
        ],
        { appliance: "AcmeGroupware" },
      ),
    );
    expect(error.code).toBe("BLACKLISTED");
    expect(error.message).toBe(
      [
        "refusing to start 2 blacklisted versions in AcmeGroupware:",
        `  d: ${DNS} version 4 is blacklisted by entry ${entry.id} (${DNS} 3-5): CVE-2026-1234`,
        `  www: ${WEB} version 7 is withdrawn by the publisher: leaks the admin password`,
      ].join("\n"),
    );
    expect(error.hint).toContain(`'cui blacklist remove ${entry.id}'`);
    expect(error.hint).toContain('version => "N"');
  });

  it.each([
    ["an entry without a reason", "all", undefined, "no reason given"],
    ["an update", "all", "update to", "refusing to update to a blacklisted version"],
  ])("words %s", async (_label, versions, action, says) => {
    db = openDatabase(":memory:");
    addBlacklistEntry(db, { repository: DNS, versions });
    const error = await caught(
      assertAllowed(db, undefined, [{ path: "", repository: DNS, version: 1 }], action ? { action } : {}),
    );
    expect(error.message).toContain(says);
    expect(error.message).toContain("(root): ");
  });

  it("refuses when a repository's withdrawals cannot be read", async () => {
    db = openDatabase(":memory:");
    const error = await caught(
      assertAllowed(db, fakeWithdrawn({}), [
        { path: "d", repository: "https://unreachable.example/dns", version: 1 },
      ]),
    );
    expect(error.code).toBe("REPO_UNREACHABLE");
    expect(error.message).toContain("https://unreachable.example/dns: connection refused");
    // A rollback may go on without the repository, checked against the local entries only.
    const far = { path: "d", repository: "https://unreachable.example/dns", version: 1 };
    await assertAllowed(db, fakeWithdrawn({}), [far], { unreadable: "skip" });
    addBlacklistEntry(db, { repository: far.repository, versions: "1" });
    expect((await caught(assertAllowed(db, fakeWithdrawn({}), [far], { unreadable: "skip" }))).code).toBe(
      "BLACKLISTED",
    );
  });
});

describe("violations", () => {
  let db: Db;
  afterEach(() => db?.close());

  function running(
    instance: string,
    file: string,
    desired: string,
    components: Array<
      [path: string, kind: string, repository: string | null, version: number | null, desired?: string]
    >,
  ) {
    const now = new Date().toISOString();
    db.prepare(
      "INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES (?, ?, ?, ?, '{}', ?, ?)",
    ).run(instance, file, `Object${instance}`, desired, now, now);
    for (const [path, kind, repository, version, componentDesired] of components) {
      db.prepare(
        "INSERT INTO components (instance_id, path, kind, state, desired, repository, version, since) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
      ).run(instance, path, kind, componentDesired ?? "running", repository, version, now);
    }
  }

  it("lists components that should run a blacklisted or withdrawn version, and nothing else", async () => {
    db = openDatabase(":memory:");
    running("a", "/srv/a.cvl", "running", [
      ["", "van", null, null],
      ["d", "container", DNS, 4],
      ["h", "container", DNS, 6],
      ["www", "container", `${WEB}/`, 7],
      ["local", "container", null, null],
      ["stopped", "container", DNS, 4, "stopped"],
    ]);
    running("b", "/srv/b.cvl", "stopped", [["d", "container", DNS, 4]]);
    const entry = addBlacklistEntry(db, { repository: DNS, versions: "<=5", reason: "CVE-1" });
    const report = await violations(db, fakeWithdrawn({ [`${WEB}/`]: { 7: "" } }));
    expect(report.unchecked).toEqual([]);
    expect(report.violations).toEqual([
      {
        file: "/srv/a.cvl",
        instance: "a",
        object: "Objecta",
        path: "d",
        repository: DNS,
        version: 4,
        entry,
        reason: "CVE-1",
      },
      {
        file: "/srv/a.cvl",
        instance: "a",
        object: "Objecta",
        path: "www",
        repository: `${WEB}/`,
        version: 7,
        reason: "withdrawn by the publisher",
      },
    ]);
  });

  it("reports repositories it could not check, and still applies the local entries to them", async () => {
    db = openDatabase(":memory:");
    const far = "https://unreachable.example/dns";
    running("a", "/srv/a.cvl", "running", [
      ["d", "container", far, 1],
      ["h", "container", far, 2],
    ]);
    addBlacklistEntry(db, { repository: far, versions: "1" });
    const report = await violations(db, fakeWithdrawn({}));
    expect(report.violations.map((v) => v.path)).toEqual(["d"]);
    expect(report.unchecked).toEqual([{ repository: far, error: "connection refused" }]);
  });
});

describe("with a real repository", () => {
  async function published() {
    const base = temp.make("blacklist");
    const app = join(base, "app");
    mkdirSync(join(app, "rootfs"), { recursive: true });
    writeFileSync(join(app, "rootfs", "f"), "1");
    const { repo, keyPath } = await makeRepository(base);
    const cvl = containerCvl(app, "rootfs", "Web");
    for (let i = 0; i < 3; i++) await publish({ repoDir: repo, cvlPath: cvl, keyPath });
    return { base, repo, keyPath };
  }

  it("reads withdrawn versions and their reasons from the signed notices", async () => {
    const { repo, keyPath } = await published();
    await withdrawVersion(repo, 2, keyPath, "CVE-2026-0001");
    await withdrawVersion(repo, 3, keyPath);
    const source = new RepositoryWithdrawals();
    const url = pathToFileURL(repo).href;
    expect([...(await source.withdrawn(url))]).toEqual([
      [2, "CVE-2026-0001"],
      [3, ""],
    ]);
    expect([...(await source.withdrawn(url, [1, 2]))]).toEqual([[2, "CVE-2026-0001"]]);
  });

  it("finds each machine component's program version, as the start records it", async () => {
    const { base, repo, keyPath } = await published();
    writeFileSync(
      join(base, "site.cvl"),
      `CVL = "0.8";\nimport { url => "repo", version => "2" } Web;\nSite extends VANAppliance {\n  Web www, blog;\n}\n`,
    );
    const result = await evaluateFile(join(base, "site.cvl"), { resolver: importResolver() });
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const origins = programOrigins(result.evaluation!);
    const url = pathToFileURL(repo).href;
    expect(origins).toEqual([
      { path: "www", repository: url, version: 2 },
      { path: "blog", repository: url, version: 2 },
    ]);
    const db = openDatabase(":memory:");
    try {
      addBlacklistEntry(db, { repository: normaliseRepository("repo", base), versions: "2", reason: "bad" });
      await withdrawVersion(repo, 2, keyPath, "also withdrawn");
      const error = await caught(assertAllowed(db, new RepositoryWithdrawals(), origins));
      expect(error.message).toContain(`www: ${url} version 2 is blacklisted by entry 1`);
      removeBlacklistEntry(db, 1);
      const withdrawn = await caught(assertAllowed(db, new RepositoryWithdrawals(), origins));
      expect(withdrawn.message).toContain(
        `blog: ${url} version 2 is withdrawn by the publisher: also withdrawn`,
      );
    } finally {
      db.close();
    }
  });
});
