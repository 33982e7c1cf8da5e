import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../daemon/daemon.js";
import { moveToAttic } from "../../manager/attic.js";
import { instanceId } from "../../manager/instance-id.js";
import { machineDirs } from "../../manager/machine-files.js";
import { machineId } from "../../manager/machine-request.js";
import { hashDisk, takeSnapshot } from "../../manager/snapshots.js";
import { type Db, openDatabase } from "../../state/database.js";
import { runCui } from "../run-in-process.js";

const MiB = 1024 * 1024;

describe("cui attic and cui snapshots", () => {
  let stateDir: string;
  let daemon: RunningDaemon;
  let db: Db;
  let file: string;
  let instance: string;
  let dirs: { stateDir: string; disksDir: string };
  let hash: string;
  const cui = (...args: string[]) => runCui(["--state-dir", stateDir, ...args]);

  /** What `cui start` and a run of db leave: instance and component rows, a state dir, a data disk. */
  async function applianceThatRan(): Promise<void> {
    const now = new Date().toISOString();
    const evaluation = {
      appliance: "Acme",
      file,
      startOrder: [["db"]],
      imports: [],
      components: [
        { path: "", kind: "van", params: {} },
        {
          path: "db",
          kind: "container",
          params: { datadisks: ["device=data&mount=%2Fvar%2Flib%2Fdb&size=16"] },
        },
        { path: "web", kind: "container", params: {} },
      ],
    };
    db.prepare(
      "INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES (?, ?, 'Acme', 'stopped', ?, ?, ?)",
    ).run(instance, file, JSON.stringify(evaluation), now, now);
    for (const [path, kind] of [
      ["", "van"],
      ["db", "container"],
      ["web", "container"],
    ] as const) {
      db.prepare(
        "INSERT INTO components (instance_id, path, kind, state, desired, since, repository, version) VALUES (?, ?, ?, 'stopped', 'stopped', ?, 'file:///repo/db', 2)",
      ).run(instance, path, kind, now);
    }
    mkdirSync(join(dirs.stateDir, "logs"), { recursive: true });
    mkdirSync(dirs.disksDir, { recursive: true });
    const fd = openSync(join(dirs.disksDir, "data.img"), "w");
    ftruncateSync(fd, 16 * MiB);
    writeSync(fd, Buffer.from("the user's rows"), 0, 15, 8 * MiB);
    closeSync(fd);
    hash = await hashDisk(join(dirs.disksDir, "data.img"));
  }

  beforeEach(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "cvt-attic-cli-"));
    daemon = await startDaemon({ stateDir });
    db = openDatabase(daemon.paths.database);
    file = join(stateDir, "acme.cvl");
    instance = instanceId(file, "Acme");
    dirs = machineDirs(daemon.paths.instances, instance, machineId(instance, "db"));
    await applianceThatRan();
  });
  afterEach(async () => {
    db.close();
    await daemon.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const toAttic = async () => {
    const { id } = await moveToAttic(
      { db, instancesDir: daemon.paths.instances, atticDir: daemon.paths.attic },
      {
        instanceId: instance,
        file,
        object: "Acme",
        path: "db",
        machineId: machineId(instance, "db"),
        repository: "file:///repo/db",
        version: 2,
        reason: `removed from ${file} by cui update`,
      },
    );
    return id!;
  };

  it("lists, restores and purges an entry, as a user sees it", async () => {
    expect((await cui("attic", "list")).stdout).toBe("the attic is empty\n");
    const id = await toAttic();

    const list = await cui("attic", "list");
    expect(list.status).toBe(0);
    const [header, row] = list.stdout.split("\n");
    expect(header).toMatch(/^ENTRY +COMPONENT +VERSION +REMOVED +HOLDS +FROM +REASON$/);
    expect(row).toContain(id);
    expect(row).toMatch(/ db +2 +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +data\.img 16\.0 MiB +Acme \(/);
    const json = JSON.parse((await cui("attic", "list", "--json")).stdout);
    expect(json.entries).toEqual([
      expect.objectContaining({
        id,
        path: "db",
        file,
        object: "Acme",
        version: 2,
        disks: [{ file: "data.img", size: 16 * MiB }],
      }),
    ]);

    // db is in the file but running: stop it first.
    db.prepare("UPDATE components SET state = 'running' WHERE path = 'db'").run();
    const running = await cui("attic", "restore", id);
    expect(running.status).toBe(1);
    expect(running.stderr).toBe(`error: db of Acme is running\n  stop it first: cui stop ${file} db\n`);
    db.prepare("UPDATE components SET state = 'stopped' WHERE path = 'db'").run();

    const restored = await cui("attic", "restore", id);
    expect(restored.stderr).toBe("");
    expect(restored.stdout).toBe(`restored data.img from ${id} as the data disks of db (${file})\n`);
    expect(await hashDisk(join(dirs.disksDir, "data.img"))).toBe(hash);
    expect((await cui("attic", "list")).stdout).toContain("restored to db");

    const again = await cui("attic", "restore", id, "--as", "web");
    expect(again.stderr).toMatch(
      new RegExp(`^error: attic entry ${id} holds no data disks; they were restored to db at `),
    );

    const refused = await cui("attic", "purge", id);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe(
      `error: purging ${id} deletes its data for good, and there is no terminal to ask on\n  add --yes: cui attic purge ${id} --yes\n`,
    );
    expect(existsSync(join(daemon.paths.attic, id))).toBe(true);
    const purged = await cui("attic", "purge", id, "--yes");
    expect(purged.stdout).toBe(`purged ${id}\n`);
    expect(existsSync(join(daemon.paths.attic, id))).toBe(false);
    expect((await cui("attic", "list", "--json")).stdout).toBe('{\n  "entries": []\n}\n');
  });

  it("refuses a restore into an occupied name, a VAN, a bad path or an unknown entry", async () => {
    const id = await toAttic();
    // web ran too: it has data of its own.
    const web = machineDirs(daemon.paths.instances, instance, machineId(instance, "web"));
    mkdirSync(web.stateDir, { recursive: true });
    const occupied = await cui("attic", "restore", id, "--as", "web");
    expect(occupied.status).toBe(1);
    expect(occupied.stderr).toMatch(
      new RegExp(`^error: cannot restore ${id} into web: it already has machine state\n`),
    );

    expect((await cui("attic", "restore", id, "--as", "")).stderr).toMatch(
      /^error: \(root\) of Acme is a VAN/,
    );
    expect((await cui("attic", "restore", id, "--as", "../x")).stderr).toMatch(/is not a component path/);
    const unknown = await cui("attic", "purge", "20200101T000000Z-Acme-nope", "--yes");
    expect(unknown.stderr).toBe(
      `error: there is no attic entry 20200101T000000Z-Acme-nope; the attic holds ${id}\n  'cui attic list' shows the entries\n`,
    );
    const otherFile = await cui("attic", "restore", id, join(stateDir, "other.cvl"));
    expect(otherFile.stderr).toMatch(/^error: nothing was ever started from .*other\.cvl\n/);
  });

  it("restores as a component that is not in the file yet, with a note saying when it is used", async () => {
    const id = await toAttic();
    const result = await cui("attic", "restore", id, "--as", "olddb");
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`restored data.img from ${id} as the data disks of olddb (${file})\n`);
    expect(result.stderr).toMatch(/^note: olddb is not a component of Acme yet: its disks are used when/);
    const disks = machineDirs(daemon.paths.instances, instance, machineId(instance, "olddb")).disksDir;
    expect(await hashDisk(join(disks, "data.img"))).toBe(hash);
  });

  it("says when the target does not declare the restored disk's device", async () => {
    const id = await toAttic();
    const result = await cui("attic", "restore", id, "--as", "web");
    expect(result.status).toBe(0);
    expect(result.stderr).toBe(
      "note: web declares no data disk for data.img (it declares none): declare the device in its datadisks to use it\n",
    );
  });

  it("lists an appliance's snapshots", async () => {
    expect((await cui("snapshots", file)).stdout).toBe(
      `no snapshots of ${file} yet (they are taken by updates)\n`,
    );
    const { id } = await takeSnapshot(
      { db, instancesDir: daemon.paths.instances, snapshotsDir: daemon.paths.snapshots },
      {
        instanceId: instance,
        path: "db",
        machineId: machineId(instance, "db"),
        repository: "file:///repo/db",
        version: 2,
        reason: "before update to version 3",
      },
    );
    const table = (await cui("snapshots", file)).stdout.split("\n");
    expect(table[0]).toMatch(/^COMPONENT +VERSION +TAKEN +DISKS +REASON +ID$/);
    expect(table[1]).toMatch(
      new RegExp(`^db +2 +[0-9T:-]+Z +data\\.img 16\\.0 MiB +before update to version 3 +${id}$`),
    );
    const json = JSON.parse((await cui("snapshots", file, "--json")).stdout);
    expect(json.snapshots).toEqual([
      expect.objectContaining({ id, path: "db", version: 2, disks: [{ file: "data.img", size: 16 * MiB }] }),
    ]);
    const missing = await cui("snapshots", join(stateDir, "never.cvl"));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^error: nothing was ever started from .*never\.cvl\n/);
  });
});
