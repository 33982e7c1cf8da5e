/**
 * Updates of a running VAN (paper, section 5.3), end to end through the CLI with real runc containers:
 * the example VAN's appliances are published into repositories of the test's own, a publisher releases
 * new versions, and `cui update` touches only what changed. Untouched components keep their process,
 * start time and open TCP connections; a data disk's files survive every kind of update, rollback and
 * failed update; a version that never becomes ready is rolled back with its data snapshot; a daemon
 * killed mid-update ends with each component at the old or the new version.
 */
import { createHash } from "node:crypto";
import { cpSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  appliancesDir,
  ensureRootfs,
  eventually,
  type HostObjects,
  run,
  type StatusJson,
  Utility,
} from "./kit.js";

const utility = new Utility("update");
const repos = join(utility.dir, "repos");
let file = "";
let before: HostObjects;
const env = () => ({ ...utility.env, COLLECTIVE_PUBLISHER_KEY: join(utility.dir, "publisher.key") });

async function cui(...args: string[]) {
  return run(
    process.execPath,
    [join(appliancesDir, "../../bin/cui.js"), "--state-dir", utility.stateDir, ...args],
    env(),
  );
}

async function cuiOk(...args: string[]) {
  const r = await cui(...args);
  if (r.code !== 0) throw new Error(`cui ${args.join(" ")} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** A copy of an example appliance whose run script is changed by `edit`, published as its next version. */
async function publishVariant(name: string, edit: (script: string) => string): Promise<number> {
  const dir = join(utility.dir, `src-${name}-${Date.now()}`);
  cpSync(join(appliancesDir, name), dir, { recursive: true, verbatimSymlinks: true });
  const script = join(dir, "rootfs", "appliance", "run");
  writeFileSync(script, edit(readFileSync(script, "utf8")), { mode: 0o755 });
  const r = await cuiOk("publish", join(repos, name), join(dir, `${name}.cvl`));
  return Number(r.stdout.trim());
}

function source(extra = ""): string {
  return `CVL = "0.8";
import { url => "${repos}/dns" } DNS;
import { url => "${repos}/dhcp" } DHCP;
import { url => "${repos}/web" } Web;
import { url => "${repos}/web", version => "1" } Web1;
import { url => "${repos}/firewall" } Firewall;
Demo extends VANAppliance {
  DNS d;
  DHCP h;
  Web www;
  Web1 blog;
  Firewall f;
  d.domain = "acme.example";
  d.dnshosts = { name => www.name, ip => www.ethernet0.ip };
  h.domain = "acme.example";
  h.router = f.ethernet0.ip;
  h.dns = d.ethernet0.ip;
  www.title = "Welcome";
  www.readytimeout = "6";
  blog.title = "A blog";
  f.services = { port => "80", ip => www.ethernet0.ip },
               { port => "8080", ip => blog.ethernet0.ip, to => "80" };
  vanIF = "f.ethernet1";
  defaultroute = f.ethernet0.ip;
${extra}}
`;
}

interface Machine {
  version: number | null;
  since: string;
  pid: number;
}

async function machines(): Promise<Map<string, Machine>> {
  const status = (JSON.parse((await cuiOk("status", file, "--json")).stdout) as StatusJson).appliances[0]!;
  const containers = await utility.containers();
  const out = new Map<string, Machine>();
  for (const c of status.components) {
    if (c.kind === "van") continue;
    const container = containers.get(`${status.instance}.${c.path}`);
    out.set(c.path, { version: c.version, since: c.since, pid: container?.pid ?? 0 });
  }
  return out;
}

/** SHA-256 over every file (path and bytes) of a component's data disk, read from its host mount. */
function dataHash(component: string): string {
  const instances = join(utility.stateDir, "instances");
  const instance = readdirSync(instances)[0]!;
  const root = join(instances, instance, "machines", `${instance}.${component}`, "disks", "content");
  const hash = createHash("sha256");
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name === "lost+found") continue;
      const path = join(dir, name);
      hash.update(path.slice(root.length));
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(readFileSync(path));
    }
  };
  walk(root);
  return hash.digest("hex");
}

function publicAddress(status: StatusJson): string {
  return status.appliances[0]!.components.find((c) => c.path === "f")!.interfaces.ethernet1!.ip;
}

/**
 * A TCP connection opened now and used later: `get` sends one HTTP request on it and reads the answer
 * to the end (busybox httpd answers one request per connection, and waits for it meanwhile).
 */
function openConnection(host: string, port: number): Promise<{ get: () => Promise<string> }> {
  return new Promise((done, fail) => {
    const socket: Socket = connect({ host, port, timeout: 20_000 }, () => {
      let text = "";
      let closed = false;
      socket.on("data", (d: Buffer) => {
        text += d.toString();
      });
      const ended = new Promise<void>((end) =>
        socket.once("close", () => {
          closed = true;
          end();
        }),
      );
      done({
        get: async () => {
          if (closed) throw new Error("the connection was closed before the request");
          socket.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
          await ended;
          return text;
        },
      });
    });
    socket.once("timeout", () => socket.destroy(new Error(`${host}:${port} timed out`)));
    socket.once("error", fail);
  });
}

beforeAll(async () => {
  await ensureRootfs();
  before = await utility.snapshot();
  for (const name of ["dns", "dhcp", "web", "firewall"]) {
    await cuiOk("create", join(repos, name));
    await cuiOk("publish", join(repos, name), join(appliancesDir, name, `${name}.cvl`));
  }
  file = join(utility.dir, "demo.cvl");
  writeFileSync(file, source());
  await utility.init();
  await cuiOk("start", file);
}, 240_000);

afterAll(async () => {
  await cui("stop", file).catch(() => undefined);
  const after = await utility.snapshot();
  await utility.cleanup();
  // Everything the VAN made is gone again once it stops.
  expect(after.netns).toEqual(before.netns);
  expect(after.runcContainers).toEqual(before.runcContainers);
  expect(after.loopDevices).toEqual(before.loopDevices);
}, 120_000);

describe("cui update", () => {
  test("nothing changed: nothing to do", async () => {
    const r = await cuiOk("update", file, "--yes");
    expect(r.stdout).toContain("nothing to do");
  });

  test("a new version of one appliance: the plan names it, and only it restarts", async () => {
    const status = JSON.parse((await cuiOk("status", file, "--json")).stdout) as StatusJson;
    const blogConnection = await openConnection(publicAddress(status), 8080);
    const dataBefore = dataHash("www");
    const old = await machines();
    expect(await publishVariant("web", (s) => s.replace('log "serving', 'log "web v2"; log "serving'))).toBe(
      2,
    );

    const plan = JSON.parse((await cuiOk("plan", file, "--json")).stdout) as {
      actions: Array<{
        action: string;
        path: string;
        from: number | null;
        to: number | null;
        reason: string;
      }>;
    };
    const changing = plan.actions.filter((a) => a.action !== "none");
    expect(changing).toEqual([
      expect.objectContaining({
        action: "update",
        path: "www",
        from: 1,
        to: 2,
        reason: expect.stringContaining("version 1 -> version 2"),
      }),
    ]);
    const text = (await cuiOk("update", file, "--dry-run")).stdout;
    expect(text).toMatch(/update +www +\[v1 -> v2\]/);
    expect(text).toContain("1 to update (1 restart)");

    const applied = await cuiOk("update", file, "--yes", "--json");
    const result = JSON.parse(applied.stdout) as { applied: boolean; timings: { controlMs: number } };
    expect(result.applied).toBe(true);
    const now = await machines();
    expect(now.get("www")?.version).toBe(2);
    expect(now.get("www")?.pid).not.toBe(old.get("www")?.pid);
    for (const path of ["d", "h", "blog", "f"]) {
      expect(now.get(path), path).toEqual(old.get(path));
    }
    // The open connection through the firewall to the untouched blog still answers.
    expect(await blogConnection.get()).toContain("A blog");
    expect(dataHash("www")).toBe(dataBefore);
    expect((await cuiOk("logs", file, "www")).stdout).toContain("web v2");
    const history = (await cuiOk("history", file)).stdout;
    expect(history).toMatch(/update +www +v1 +v2 +done/);
  }, 120_000);

  test("parameters only: delivered to the same process, no restart", async () => {
    const old = await machines();
    writeFileSync(file, source().replace('blog.title = "A blog"', 'blog.title = "A new blog"'));
    const plan = (await cuiOk("update", file, "--dry-run")).stdout;
    expect(plan).toMatch(/reconfigure +blog +parameters changed \(title\)/);
    expect(plan).toContain('title: "A blog" -> "A new blog"');
    await cuiOk("update", file, "--yes");
    expect(await machines()).toEqual(old);
    const instance = readdirSync(join(utility.stateDir, "instances"))[0]!;
    const params = await utility.exec(`${instance}.blog`, "cat", "/run/collective/params.json");
    expect(params.stdout).toContain("A new blog");
  }, 60_000);

  test("a version that never becomes ready is rolled back, with its data snapshot", async () => {
    const dataBefore = dataHash("www");
    const old = await machines();
    // Version 3 overwrites the page on the data disk, then never serves: the health gate fails.
    await publishVariant(
      "web",
      () =>
        '#!/bin/sh\n. /appliance/lib.sh\necho broken > /srv/www/index.html\nlog "broken v3 starting"\nserve sleep 1000\n',
    );
    const r = await cui("update", file, "--yes");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the update of Demo failed at www: .*not ready within 6000 ms/);
    expect(r.stderr).toContain("rolled back to the previous version and its data disk snapshot");
    expect(r.stderr).toContain("broken v3 starting");
    const now = await machines();
    expect(now.get("www")?.version).toBe(2);
    for (const path of ["d", "h", "blog", "f"]) expect(now.get(path), path).toEqual(old.get(path));
    expect(dataHash("www")).toBe(dataBefore);
    expect((await cuiOk("history", file)).stdout).toMatch(/update +www +v2 +v3 +rolled back/);
    // The publisher withdraws the broken version: updates no longer pick it.
    await cuiOk("repo", "withdraw", join(repos, "web"), "3", "--reason", "never becomes ready");
    expect((await cuiOk("update", file, "--yes")).stdout).toContain("nothing to do");
  }, 120_000);

  test("rollback goes back to the previous version; a second one goes forward", async () => {
    // Pin version 2 so the broken version 3 stays out of the way.
    writeFileSync(
      file,
      source()
        .replace('blog.title = "A blog"', 'blog.title = "A new blog"')
        .replace(
          `import { url => "${repos}/web" } Web;`,
          `import { url => "${repos}/web", version => "2" } Web;`,
        ),
    );
    const r = await cuiOk("rollback", file, "www");
    expect(r.stdout).toContain("www: version 2 -> version 1");
    expect((await machines()).get("www")?.version).toBe(1);
    await cuiOk("rollback", file, "www");
    expect((await machines()).get("www")?.version).toBe(2);
    const none = await cui("rollback", file, "d");
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("has no previous version to go back to");
  }, 90_000);

  test("a component gone from the file goes to the attic; a new one starts; the attic restores it", async () => {
    const old = await machines();
    const pinned = source().replace('  blog.title = "A blog";\n', "");
    // blog removed (and its firewall entry), extra added.
    const changed = pinned
      .replace("  Web1 blog;\n", "  Web extra;\n")
      .replace(
        /f\.services = .*?;\n/s,
        'f.services = { port => "80", ip => www.ethernet0.ip };\n  extra.title = "Extra";\n',
      );
    writeFileSync(file, changed);
    const plan = (await cuiOk("update", file, "--dry-run")).stdout;
    expect(plan).toMatch(/start +extra +\[v2\] +new in the file/);
    expect(plan).toMatch(/to attic +blog/);
    expect(plan).toMatch(/reconfigure +f +parameters changed \(services\)/);
    expect(plan).toContain('services: { port => "80", ip => "');
    await cuiOk("update", file, "--yes");
    const now = await machines();
    expect(now.has("blog")).toBe(false);
    expect(now.get("extra")?.pid).toBeGreaterThan(0);
    expect(now.get("d")).toEqual(old.get("d"));
    const attic = JSON.parse((await cuiOk("attic", "list", "--json")).stdout) as {
      entries: Array<{ id: string; path: string }>;
    };
    const entry = attic.entries.find((e) => e.path === "blog");
    expect(entry).toBeDefined();
    // Putting blog back: its data comes out of the attic into the new blog.
    writeFileSync(file, source().replace('blog.title = "A blog"', 'blog.title = "A new blog"'));
    const occupied = await cui("attic", "restore", entry!.id, file, "--as", "www");
    expect(occupied.code).not.toBe(0);
    expect(occupied.stderr).toMatch(/www/);
    await cuiOk("attic", "restore", entry!.id, file);
    await cuiOk("update", file, "--yes");
    const back = await machines();
    expect(back.get("blog")?.pid).toBeGreaterThan(0);
    expect(back.has("extra")).toBe(false);
  }, 180_000);

  test("bad input changes nothing", async () => {
    const old = await machines();
    const missing = await cui("update", file, "nosuch", "--yes");
    expect(missing.stderr).toMatch(/Demo has no component 'nosuch'; its components are/);
    const notRunning = await cui("update", join(utility.dir, "other.cvl"), "--yes");
    expect(notRunning.stderr).toMatch(/nothing started from .*other.cvl is running/);
    // A blacklisted target version: refused with the administrator's reason.
    const v4 = await publishVariant("web", (t) => t.replace('log "serving', 'log "web v4"; log "serving'));
    await cuiOk("blacklist", "add", join(repos, "web"), String(v4), "--reason", "CVE-2026-0001");
    const refused = await cui("update", file, "--yes");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("CVE-2026-0001");
    expect(await machines()).toEqual(old);
    await cuiOk("blacklist", "remove", join(repos, "web"), String(v4));
    // A repository that cannot be reached: the update fails before anything is touched.
    renameSync(join(repos, "dns"), join(repos, "dns.away"));
    try {
      const unreachable = await cui("update", file, "--yes");
      expect(unreachable.code).not.toBe(0);
      expect(unreachable.stderr).toContain("dns");
    } finally {
      renameSync(join(repos, "dns.away"), join(repos, "dns"));
    }
    expect(await machines()).toEqual(old);
  }, 60_000);

  test("a daemon killed at each step of an update: each component ends at the old or the new version, data intact", async () => {
    const dataBefore = dataHash("www");
    // Version 4 was published (and let through again) by the bad input test; each round pins the other
    // of 2 and 4, so every round is a real update of www, killed at a later step.
    const pinned = (version: number) =>
      source()
        .replace('blog.title = "A blog"', 'blog.title = "A new blog"')
        .replace(
          `import { url => "${repos}/web" } Web;`,
          `import { url => "${repos}/web", version => "${version}" } Web;`,
        );
    for (const step of ["stopping", "stopped", "preparing", "starting", "waiting", "running"]) {
      const from = (await machines()).get("www")!.version!;
      const to = from === 4 ? 2 : 4;
      writeFileSync(file, pinned(to));
      const update = utility.spawnCui("update", file, "--yes");
      await eventually(`the update reaches "www: ${step}"`, 60_000, async () =>
        update.stderr().includes(`www: ${step}`) ? true : undefined,
      );
      await utility.killDaemon();
      await update.result;
      // Any command starts a new daemon, which finishes or rolls back the update.
      const settled = await eventually(`www running once after a kill at "${step}"`, 60_000, async () => {
        const m = await machines();
        const www = m.get("www");
        const status = await utility.status(file);
        return www && www.pid > 0 && status.appliances[0]!.components.every((c) => c.state === "running")
          ? m
          : undefined;
      });
      expect([from, to], `after a kill at "${step}"`).toContain(settled.get("www")?.version);
      expect(dataHash("www"), `data after a kill at "${step}"`).toBe(dataBefore);
      const containers = [...(await utility.containers()).keys()].filter((id) => id.endsWith(".www"));
      expect(containers, `containers after a kill at "${step}"`).toHaveLength(1);
    }
    writeFileSync(file, pinned(4));
    await cuiOk("update", file, "--yes");
    expect((await machines()).get("www")?.version).toBe(4);
  }, 400_000);

  test("blacklist violations are listed, stopped only when asked, and start again when allowed", async () => {
    const old = await machines();
    await cuiOk("blacklist", "add", join(repos, "dhcp"), "1", "--reason", "CVE-2026-0002");
    const listed = JSON.parse((await cuiOk("blacklist", "violations", "--json")).stdout) as {
      violations: Array<{ path: string; version: number; reason: string }>;
    };
    expect(listed.violations).toEqual([expect.objectContaining({ path: "h", version: 1 })]);
    // Listing stops nothing.
    expect((await machines()).get("h")).toEqual(old.get("h"));
    await cuiOk("blacklist", "violations", "--stop", "--yes");
    expect((await machines()).get("h")?.pid).toBe(0);
    const refused = await cui("start", file);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("CVE-2026-0002");
    await cuiOk("blacklist", "remove", join(repos, "dhcp"), "1");
    // The stopped component starts again; the others keep running as they were.
    await cuiOk("start", file);
    const now = await machines();
    expect(now.get("h")?.pid).toBeGreaterThan(0);
    for (const path of ["d", "www", "blog", "f"]) expect(now.get(path)?.pid, path).toBe(old.get(path)?.pid);
  }, 120_000);

  test("automatic updates: a new version is applied by the daemon, recorded as automatic", async () => {
    writeFileSync(file, source().replace('blog.title = "A blog"', 'blog.title = "A new blog"'));
    expect((await cuiOk("update", file, "--yes")).stdout).toContain("nothing to do");
    const old = await machines();
    const bad = await cui("autoupdate", file, "on", "--window", "25:00-01:00");
    expect(bad.stderr).toContain('"25:00-01:00" is not a time window');
    expect((await cuiOk("autoupdate", file, "on", "--window", "02:00-04:30")).stdout).toContain(
      "on, window 02:00-04:30",
    );
    const v5 = await publishVariant("web", (t) => t.replace('log "serving', 'log "web v5"; log "serving'));
    const checked = (await cuiOk("autoupdate", file, "now")).stdout;
    expect(checked).toContain(`updated: update www v4->v${v5}`);
    const now = await machines();
    expect(now.get("www")?.version).toBe(v5);
    for (const path of ["d", "h", "blog", "f"]) expect(now.get(path), path).toEqual(old.get(path));
    expect((await cuiOk("history", file)).stdout).toMatch(
      new RegExp(`autoupdate \\(auto\\) +www +v4 +v${v5} +done`),
    );
    await cuiOk("autoupdate", file, "off");
  }, 120_000);
});
