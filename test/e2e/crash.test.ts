/**
 * The daemon killed with SIGKILL: at several points during a start, while appliances run, and with the
 * machine "rebooted" behind its back (containers, namespaces, links, nft tables, mounts and loop devices
 * gone). Each time a restarted daemon (reconcile() at daemon start) converges on what the user asked
 * for: every component running exactly once, nothing allocated twice, nothing half-created.
 */

import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  ensureRootfs,
  eventually,
  type HostObjects,
  httpGet,
  run,
  type StatusJson,
  Utility,
  vanMachines,
  vanSource,
  writeFile,
} from "./kit.js";

const utility = new Utility("crash");
let file = "";
let before: HostObjects;
/** What one clean start of the VAN holds on the machine (counts per kind), the yardstick after a crash. */
let reference: Record<keyof HostObjects, number> | undefined;

beforeAll(async () => {
  await ensureRootfs();
  file = writeFile(utility.dir, "demo.cvl", vanSource());
  before = await utility.snapshot();
  await utility.init();
}, 120_000);

afterAll(async () => {
  await utility.cleanup();
}, 60_000);

// A failed test must not leave the VAN running for the next one (which would then fail too).
afterEach(async () => {
  if ((await utility.status(file).catch(() => undefined))?.appliances[0]?.state === "running")
    await utility.cui("stop", file);
}, 60_000);

function counts(objects: HostObjects): Record<keyof HostObjects, number> {
  return Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, (v as string[]).length])) as Record<
    keyof HostObjects,
    number
  >;
}

/** Waits until the instance runs with every component running; the restarted daemon reconciles. */
async function converged(timeoutMs = 30_000): Promise<StatusJson> {
  return eventually("all components running", timeoutMs, async () => {
    const status = await utility.status(file);
    const appliance = status.appliances[0];
    if (!appliance) return undefined;
    return appliance.components.every((c) => c.state === "running") ? status : undefined;
  });
}

/** Exactly one container and one run script per component; no duplicate or leftover allocation. */
async function assertExactlyOnce(status: StatusJson): Promise<void> {
  const appliance = status.appliances[0]!;
  const expected = vanMachines.map((p) => `${appliance.instance}.${p}`).sort();
  const containers = await utility.containers();
  expect([...containers.keys()].sort()).toEqual(expected);
  for (const [id, c] of containers) {
    if (c.status !== "running") {
      const path = id.slice(appliance.instance.length + 1);
      const logs = await utility.cui("logs", file, path);
      const record = await run("cat", [
        join(utility.stateDir, "instances", appliance.instance, "machines", id, "machine.json"),
      ]);
      expect.fail(
        `${id} is ${c.status}; its log:\n${logs.stdout}${logs.stderr}\nits record: ${record.stdout}`,
      );
    }
    // One process tree: exactly one process whose parent is outside the container (its init), and
    // that is the appliance's run script (its subshells and services are its descendants).
    const pids = await utility.containerPids(id);
    const roots: string[] = [];
    for (const pid of pids) {
      const stat = await run("cat", [`/proc/${pid}/stat`]);
      const ppid = Number(stat.stdout.slice(stat.stdout.lastIndexOf(")") + 2).split(" ")[1]);
      if (stat.stdout && !pids.includes(ppid))
        roots.push((await run("cat", [`/proc/${pid}/cmdline`])).stdout);
    }
    expect(roots, `${id} runs its appliance once`).toHaveLength(1);
    expect(roots[0]).toContain("/appliance/run");
    // Nothing else runs in its namespace: no second copy outside runc's knowledge (an orphan of the
    // killed daemon's runc run), no stray probe.
    const inNetns = await eventually(
      `${id}: only its container's processes in its namespace`,
      5_000,
      async () => {
        const found = await utility.processesInNetns(`${utility.prefix}-${id}`);
        const container = await utility.containerPids(id);
        return found.every((p) => container.includes(p)) ? found : undefined;
      },
    );
    expect(inNetns.length).toBeGreaterThan(0);
  }

  const db = new Database(join(utility.stateDir, "state.db"), { readonly: true });
  try {
    const networks = db.prepare("SELECT instance_id, vni FROM networks").all() as Array<{
      instance_id: string;
      vni: number;
    }>;
    expect(networks).toHaveLength(1);
    expect(networks[0]!.instance_id).toBe(appliance.instance);
    const addresses = db
      .prepare("SELECT instance_id, interface, network, vni, ip, mac FROM addresses")
      .all() as Array<{
      instance_id: string;
      interface: string;
      ip: string;
      mac: string;
      network: string;
    }>;
    expect(addresses).toHaveLength(6);
    expect(new Set(addresses.map((a) => a.interface)).size).toBe(6);
    expect(new Set(addresses.map((a) => `${a.network} ${a.ip}`)).size).toBe(6);
    expect(new Set(addresses.map((a) => a.mac)).size).toBe(6);
    expect(new Set(addresses.map((a) => a.instance_id))).toEqual(new Set([appliance.instance]));
    const instances = db.prepare("SELECT id, desired FROM instances").all();
    expect(instances).toEqual([{ id: appliance.instance, desired: "running" }]);
    const open = db.prepare("SELECT * FROM journal WHERE status = 'begun'").all();
    expect(open).toEqual([]);
  } finally {
    db.close();
  }

  // Nothing half-created: the same namespaces, links, mounts, loops and nft tables as a clean start.
  const now = await utility.snapshot();
  expect(counts(now)).toEqual(reference);
  expect(now.netns.sort()).toEqual(expected.map((id) => `${utility.prefix}-${id}`).sort());
}

async function stopAndCheckClean(): Promise<void> {
  const stopped = await utility.cui("stop", file);
  expect(stopped.code, stopped.stderr).toBe(0);
  const after = await utility.snapshot();
  expect({ ...after, cgroups: [] }).toEqual({ ...before, cgroups: [] });
}

describe("a daemon killed with SIGKILL", { timeout: 180_000 }, () => {
  test("a clean start, the yardstick", async () => {
    const started = await utility.cui("start", file);
    expect(started.code, started.stderr).toBe(0);
    reference = counts(await utility.snapshot());
    expect(reference).toMatchObject({ netns: 5, runcContainers: 5, loopDevices: 2 });
    await assertExactlyOnce(await utility.status(file));
    await stopAndCheckClean();
  });

  // Kill points: right after a progress line (plus a delay that lands inside the next step).
  const points: Array<{ line: string; delayMs: number }> = [
    { line: "d: preparing", delayMs: 0 },
    { line: "d: starting", delayMs: 20 },
    { line: "www: starting", delayMs: 60 },
    { line: "blog: waiting", delayMs: 0 },
    { line: "f: starting", delayMs: 30 },
    { line: "f: waiting", delayMs: 150 },
  ];
  for (const point of points) {
    test(`killed ${point.delayMs} ms after "${point.line}": converges, each component once`, async () => {
      const start = utility.spawnCui("start", file);
      await eventually(`progress line "${point.line}"`, 20_000, async () =>
        start.stderr().includes(point.line) ? true : undefined,
      );
      if (point.delayMs > 0) await sleep(point.delayMs);
      await utility.killDaemon();
      const interrupted = await start.result;
      // The CLI notices: the daemon went away mid-operation (or, rarely, the start had just finished).
      if (interrupted.code !== 0)
        expect(interrupted.stderr).toMatch(/error: the daemon stopped answering during \/v1\/start/);

      // Any command starts a new daemon, which reconciles; the start that was under way is finished.
      const status = await converged();
      await assertExactlyOnce(status);
      const address = status.appliances[0]!.components.find((c) => c.path === "f")!.interfaces.ethernet1!.ip;
      expect((await httpGet(address, 80)).body).toContain("Welcome to the Collective");
      await stopAndCheckClean();
    });
  }

  test("appliances keep running without the daemon, and a new daemon re-adopts them", async () => {
    const started = await utility.cui("start", file);
    expect(started.code, started.stderr).toBe(0);
    reference ??= counts(await utility.snapshot());
    const status = await utility.status(file);
    const address = status.appliances[0]!.components.find((c) => c.path === "f")!.interfaces.ethernet1!.ip;
    const pids = await utility.containers();

    await utility.killDaemon();
    expect(utility.daemonPid()).toBeUndefined();
    expect((await httpGet(address, 80)).body).toContain("Welcome to the Collective");
    expect((await httpGet(address, 8080)).body).toContain("A blog");

    const adopted = await converged();
    expect(await utility.containers()).toEqual(pids);
    for (const c of adopted.appliances[0]!.components) expect(c.restarts, c.path).toBe(0);
    await assertExactlyOnce(adopted);
    // The new daemon is fully in charge: it can stop what the old one started.
    await stopAndCheckClean();
  });

  test("after a 'reboot' (containers, namespaces, networks, mounts gone) a new daemon brings it all back", async () => {
    const started = await utility.cui("start", file);
    expect(started.code, started.stderr).toBe(0);
    reference ??= counts(await utility.snapshot());
    const status = await utility.status(file);
    const instance = status.appliances[0]!.instance;
    const address = status.appliances[0]!.components.find((c) => c.path === "f")!.interfaces.ethernet1!.ip;
    const marker = `before-reboot-${Date.now()}`;
    const wrote = await utility.exec(`${instance}.www`, "sh", "-c", `echo ${marker} > /srv/www/marker.txt`);
    expect(wrote.code, wrote.stderr).toBe(0);
    const oldPids = await utility.containers();

    // The reboot: the daemon dies, every container and namespace goes, and with them what lives in
    // memory only (links, nft tables, mounts, loop devices, runc's state on tmpfs).
    await utility.killDaemon();
    for (const id of oldPids.keys()) {
      await run("runc", ["--root", utility.runcRoot, "kill", id, "KILL"]);
    }
    await sleep(200);
    for (const id of oldPids.keys()) await run("runc", ["--root", utility.runcRoot, "delete", "--force", id]);
    const gone = await utility.snapshot();
    for (const ns of gone.netns) await run("ip", ["netns", "delete", ns]);
    for (const link of gone.links) await run("ip", ["link", "delete", link]);
    for (const table of gone.nftTables) await run("nft", ["delete", "table", ...table.split(" ").slice(1)]);
    for (const m of [...gone.mounts].sort((a, b) => b.length - a.length)) await run("umount", ["-l", m]);
    for (const loop of gone.loopDevices) await run("losetup", ["-d", loop.split(" ")[0]!]);
    const rebooted = await utility.snapshot();
    expect({ ...rebooted, cgroups: [] }).toEqual({ ...before, cgroups: [] });

    const back = await converged(60_000);
    await assertExactlyOnce(back);
    const now = await utility.containers();
    for (const [id, c] of now) expect(c.pid, id).not.toBe(oldPids.get(id)?.pid);
    const page = await eventually("the page after the reboot", 10_000, async () => {
      const r = await httpGet(address, 80, "/marker.txt");
      return r.status === 200 ? r : undefined;
    });
    expect(page.body.trim()).toBe(marker);
    await stopAndCheckClean();
  });
});
