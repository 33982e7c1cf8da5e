/**
 * Bad input to `cui start` and `cui stop`, through the CLI and a real daemon: each is refused with a
 * clear message on stderr and a non-zero exit status, and leaves the machine as it was (no namespace,
 * link, nft table, mount, loop device, container; no instance or allocation in the state database).
 */

import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  appliancesDir,
  ensureRootfs,
  type HostObjects,
  type Run,
  Utility,
  vanMachines,
  vanSource,
  writeFile,
} from "./kit.js";

const utility = new Utility("bad");
let before: HostObjects;
const A = appliancesDir;

beforeAll(async () => {
  await ensureRootfs();
  before = await utility.snapshot();
  await utility.init();
}, 120_000);

afterAll(async () => {
  await utility.cleanup();
}, 60_000);

/** Nothing on the machine, nothing in the database: the refused command changed nothing. */
async function assertClean(): Promise<void> {
  const now = await utility.snapshot();
  expect({ ...now, cgroups: [] }).toEqual({ ...before, cgroups: [] });
  const db = new Database(join(utility.stateDir, "state.db"), { readonly: true });
  try {
    for (const table of ["instances", "components", "networks", "addresses"]) {
      expect(db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get(), table).toEqual({ n: 0 });
    }
    expect(db.prepare("SELECT COUNT(*) AS n FROM journal WHERE status = 'begun'").get()).toEqual({ n: 0 });
  } finally {
    db.close();
  }
}

function refused(r: Run, code: RegExp | string): void {
  expect(r.code, r.stdout).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stderr).toMatch(/^error: /);
  expect(r.stderr).toMatch(code);
  expect(r.stdout).toBe("");
}

describe("bad input", { timeout: 60_000 }, () => {
  test("missing required parameters: one report listing all of them", async () => {
    const file = writeFile(
      utility.dir,
      "required.cvl",
      `import { url => "${A}/dns", cvl => "dns.cvl" } DNS;
import { url => "${A}/web", cvl => "web.cvl" } Web;
Demo extends VANAppliance {
  var "required" domain, owner;
  DNS d;
  Web www;
  d.domain = domain;
  www.title = owner;
}
`,
    );
    const r = await utility.cui("start", file);
    refused(r, /cannot be started: 2 problems/);
    expect(r.stderr).toMatch(
      /required\.cvl:\d+:\d+: error CVL1402: the required parameter 'domain' has no value/,
    );
    expect(r.stderr).toMatch(
      /required\.cvl:\d+:\d+: error CVL1402: the required parameter 'owner' has no value/,
    );
    expect(r.stderr).toContain("'domain' is declared required in Demo here");
    await assertClean();
  });

  test("an unmet requires", async () => {
    const file = writeFile(
      utility.dir,
      "unmet.cvl",
      `import { url => "${A}/web", cvl => "web.cvl" } Web;\nDemo extends VANAppliance { Web www; }\n`,
    );
    const r = await utility.cui("start", file);
    refused(r, /error CVL1405: www requires "DNS", which no component provides/);
    await assertClean();
  });

  test("a dependency cycle, printed", async () => {
    const file = writeFile(utility.dir, "cycle.cvl", vanSource(`  d.requires = "GATEWAY";\n`));
    const r = await utility.cui("start", file);
    refused(r, /error CVL1404: start dependencies form a cycle: .*d -> f -> (www|blog) -> d/);
    await assertClean();
  });

  test("an unreachable repository", async () => {
    const file = writeFile(
      utility.dir,
      "unreachable.cvl",
      `import { url => "http://127.0.0.1:9/repos/dns" } DNS;\nDemo extends VANAppliance { DNS d; }\n`,
    );
    const r = await utility.cui("start", file);
    refused(
      r,
      /error CVL1301: cannot import DNS from "http:\/\/127\.0\.0\.1:9\/repos\/dns": .*connection refused/,
    );
    await assertClean();
  });

  test("an import of a local appliance that does not exist", async () => {
    const file = writeFile(
      utility.dir,
      "nosuch.cvl",
      `import { url => "${A}/nosuch", cvl => "x.cvl" } X;\nDemo extends VANAppliance { X x; }\n`,
    );
    const r = await utility.cui("start", file);
    refused(r, /cannot import X from .*does not exist/);
    await assertClean();
  });

  test("a CVL file that does not exist", async () => {
    const r = await utility.cui("start", join(utility.dir, "missing.cvl"));
    refused(r, /missing\.cvl/);
    await assertClean();
  });

  test("a start that does not fit the host, with what is needed and what is free", async () => {
    const file = writeFile(utility.dir, "fit.cvl", vanSource());
    const set = await utility.cui("host", "set", "--memory", "64");
    expect(set.code, set.stderr).toBe(0);
    try {
      const r = await utility.cui("start", file);
      refused(r, /NO_CAPACITY|does not fit|not enough/i);
      expect(r.stderr).toMatch(/192/); // 64 (DNS) + 4 x 32 MiB needed
      expect(r.stderr).toMatch(/64/); // free
      await assertClean();
    } finally {
      const reset = await utility.cui("host", "set", "--memory", "8192");
      expect(reset.code, reset.stderr).toBe(0);
    }
  });

  test("stopping what is not running", async () => {
    const file = writeFile(utility.dir, "idle.cvl", vanSource());
    const r = await utility.cui("stop", file);
    refused(r, /nothing started from .*idle\.cvl is running/);
    await assertClean();
  });

  test("the same file started twice at once: one succeeds, the other is refused clearly", async () => {
    const file = writeFile(utility.dir, "twice.cvl", vanSource());
    const [a, b] = await Promise.all([utility.cui("start", file), utility.cui("start", file)]);
    const ok = [a, b].filter((r) => r.code === 0);
    const failed = [a, b].filter((r) => r.code !== 0);
    expect(ok, `${a.stderr}\n---\n${b.stderr}`).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.stderr).toMatch(
      /^error: Demo .*twice\.cvl.* (is already being started or stopped|is already running)/,
    );
    expect(failed[0]!.stderr).toMatch(/wait for it to finish|'cui status' shows it/);
    const status = await utility.status(file);
    expect(status.appliances).toHaveLength(1);
    const appliance = status.appliances[0]!;
    expect(appliance.components.every((c) => c.state === "running")).toBe(true);
    expect([...(await utility.containers()).keys()].sort()).toEqual(
      vanMachines.map((p) => `${appliance.instance}.${p}`).sort(),
    );

    // A second start of a running file: refused, and the running one untouched.
    const again = await utility.cui("start", file);
    refused(again, /is already running/);

    // A component path that does not exist: refused, naming the ones that do.
    const wrong = await utility.cui("stop", file, "nosuch");
    refused(wrong, /Demo has no component 'nosuch'; its components are .*www/);
    const wrongLogs = await utility.cui("logs", file, "w.x");
    refused(wrongLogs, /no machine component 'w\.x'/);
    expect((await utility.containers()).size).toBe(5);

    const stopped = await utility.cui("stop", file);
    expect(stopped.code, stopped.stderr).toBe(0);
    const db = new Database(join(utility.stateDir, "state.db"), { readonly: true });
    try {
      db.exec("SELECT 1");
      expect(db.prepare("SELECT COUNT(*) AS n FROM addresses").get()).toEqual({ n: 0 });
      expect(db.prepare("SELECT COUNT(*) AS n FROM networks").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const now = await utility.snapshot();
    expect({ ...now, cgroups: [] }).toEqual({ ...before, cgroups: [] });
  });
});
