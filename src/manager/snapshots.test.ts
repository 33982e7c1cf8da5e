import { execFileSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Db, openDatabase } from "../state/database.js";
import { machineDirs } from "./machine-files.js";
import { machineId } from "./machine-request.js";
import {
  hashDisk,
  latestSnapshot,
  listSnapshots,
  pruneSnapshots,
  restoreSnapshot,
  type SnapshotContext,
  snapshotRetention,
  sweepSnapshots,
  takeSnapshot,
} from "./snapshots.js";

const MiB = 1024 * 1024;

/** A sparse stand-in for a data disk image: `size` bytes, a few written blocks. */
function sparseImage(path: string, size: number, marks: Array<[number, string]>): void {
  const fd = openSync(path, "w");
  ftruncateSync(fd, size);
  for (const [offset, text] of marks)
    writeSync(fd, Buffer.from(text.repeat(1024)), 0, text.length * 1024, offset);
  closeSync(fd);
}

describe("data disk snapshots", () => {
  let root: string;
  let db: Db;
  let ctx: SnapshotContext;
  const instance = "i0123456789a";
  const path = "db";
  const machine = machineId(instance, path);
  let disks: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cvt-snapshots-"));
    db = openDatabase(join(root, "state.db"));
    ctx = { db, instancesDir: join(root, "instances"), snapshotsDir: join(root, "snapshots") };
    disks = machineDirs(ctx.instancesDir, instance, machine).disksDir;
    mkdirSync(disks, { recursive: true });
    sparseImage(join(disks, "data.img"), 64 * MiB, [
      [0, "superblock"],
      [40 * MiB, "user data"],
    ]);
    sparseImage(join(disks, "logs.img"), 8 * MiB, [[MiB, "log"]]);
  });
  afterEach(() => {
    db.close();
    rmSync(root, { recursive: true, force: true });
  });

  const take = (reason = "before update to version 2", version = 1) =>
    takeSnapshot(ctx, {
      instanceId: instance,
      path,
      machineId: machine,
      repository: "file:///r",
      version,
      reason,
    });

  it("snapshot, change the disk, restore: the disks are byte-identical to when the snapshot was taken", async () => {
    const before = {
      data: await hashDisk(join(disks, "data.img")),
      logs: await hashDisk(join(disks, "logs.img")),
    };
    const snapshot = await take();
    expect(snapshot.disks).toEqual(["data.img", "logs.img"]);
    expect(readdirSync(snapshot.dir).sort()).toEqual(["data.img", "logs.img", "manifest.json"]);

    const fd = openSync(join(disks, "data.img"), "r+");
    writeSync(fd, Buffer.from("the update scribbled here"), 0, 25, 40 * MiB);
    closeSync(fd);
    rmSync(join(disks, "logs.img"));
    expect(await hashDisk(join(disks, "data.img"))).not.toBe(before.data);

    await restoreSnapshot(ctx, snapshot.id);
    expect(await hashDisk(join(disks, "data.img"))).toBe(before.data);
    expect(await hashDisk(join(disks, "logs.img"))).toBe(before.logs);
    expect(readdirSync(disks).sort()).toEqual(["data.img", "logs.img"]);
  });

  it("keeps sparse images sparse, in the snapshot and after a restore", async () => {
    const original = statSync(join(disks, "data.img"));
    expect(original.blocks * 512).toBeLessThan(MiB);
    const snapshot = await take();
    const copy = statSync(join(snapshot.dir, "data.img"));
    expect(copy.size).toBe(64 * MiB);
    expect(copy.blocks).toBeLessThanOrEqual(original.blocks + 16);
    await restoreSnapshot(ctx, snapshot.id);
    const restored = statSync(join(disks, "data.img"));
    expect(restored.size).toBe(64 * MiB);
    expect(restored.blocks).toBeLessThanOrEqual(original.blocks + 16);
  });

  it("records the snapshot and lists it by instance and by file, newest first", async () => {
    const now = new Date().toISOString();
    db.prepare(
      "INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES (?, ?, ?, 'stopped', '{}', ?, ?)",
    ).run(instance, "/srv/acme.cvl", "Acme", now, now);
    const first = await take("before update to version 2", 1);
    const second = await take("before update to version 3", 2);
    expect(second.id).not.toBe(first.id);
    const listed = listSnapshots(db, { file: "/srv/acme.cvl" });
    expect(listed.map((s) => s.id)).toEqual([second.id, first.id]);
    expect(listed[0]).toMatchObject({
      instanceId: instance,
      path,
      version: 2,
      reason: "before update to version 3",
    });
    expect(listSnapshots(db, { instanceId: instance })).toHaveLength(2);
    expect(listSnapshots(db, { file: "/srv/other.cvl" })).toEqual([]);
    expect(latestSnapshot(db, instance, path)?.id).toBe(second.id);
    expect(latestSnapshot(db, instance, "web")).toBeUndefined();
  });

  it("a machine without data disks gets an empty snapshot, and restoring it changes nothing", async () => {
    rmSync(disks, { recursive: true });
    const snapshot = await take();
    expect(snapshot.disks).toEqual([]);
    await restoreSnapshot(ctx, snapshot.id);
    expect(readdirSync(disks)).toEqual([]);
  });

  it("retention keeps the newest N of each component and never the last one", async () => {
    const ids: string[] = [];
    for (let v = 1; v <= 5; v++) ids.push((await take(`before update to version ${v + 1}`, v)).id);
    const other = await takeSnapshot(ctx, {
      instanceId: instance,
      path: "web",
      machineId: machineId(instance, "web"),
      repository: null,
      version: null,
      reason: "before update",
    });
    const removed = await pruneSnapshots(ctx, instance, path, 3);
    expect(removed.sort()).toEqual(ids.slice(0, 2).sort());
    expect(listSnapshots(db, { instanceId: instance }).map((s) => s.id)).toEqual(
      expect.arrayContaining([...ids.slice(2), other.id]),
    );
    for (const id of removed) expect(existsSync(join(ctx.snapshotsDir, id))).toBe(false);
    expect(await pruneSnapshots(ctx, instance, path, 0)).toHaveLength(2);
    expect(latestSnapshot(db, instance, path)?.id).toBe(ids[4]);
    expect(readdirSync(ctx.snapshotsDir).sort()).toEqual([ids[4], other.id].sort());
  });

  it("retention is 3 unless COLLECTIVE_SNAPSHOT_KEEP says otherwise", () => {
    expect(snapshotRetention({})).toBe(3);
    expect(snapshotRetention({ COLLECTIVE_SNAPSHOT_KEEP: "7" })).toBe(7);
    expect(() => snapshotRetention({ COLLECTIVE_SNAPSHOT_KEEP: "0" })).toThrow(/at least 1/);
    expect(() => snapshotRetention({ COLLECTIVE_SNAPSHOT_KEEP: "all" })).toThrow(/whole number/);
  });

  it("refuses to restore a snapshot that does not exist, or whose files are damaged", async () => {
    await expect(restoreSnapshot(ctx, "20260101T000000Z-nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(restoreSnapshot(ctx, "../../etc")).rejects.toMatchObject({ code: "NOT_FOUND" });
    const snapshot = await take();
    writeFileSync(join(snapshot.dir, "data.img"), "truncated");
    await expect(restoreSnapshot(ctx, snapshot.id)).rejects.toMatchObject({
      code: "SNAPSHOT_DAMAGED",
      message: expect.stringContaining("data.img is 9 bytes"),
    });
  });

  it("sweep: a half-taken snapshot, a dir without a row and a row without a dir are cleaned up", async () => {
    const kept = await take();
    const lost = await take();
    // Crash mid-prune: the dir was moved away, the row is still there.
    renameSync(lost.dir, join(ctx.snapshotsDir, `.trash-${lost.id}-abc123`));
    // Crash mid-take: a partial copy; and a complete dir whose row was never written.
    mkdirSync(join(ctx.snapshotsDir, ".partial-20260101T000000Z-x-db"));
    writeFileSync(join(ctx.snapshotsDir, ".partial-20260101T000000Z-x-db", "data.img"), "half");
    mkdirSync(join(ctx.snapshotsDir, "20260101T000000Z-x-db"));
    // Crash mid-restore: a temporary copy beside the image.
    writeFileSync(join(disks, "data.img.restoring"), "half");

    const report = await sweepSnapshots(ctx);
    expect(report.forgotten).toEqual([lost.id]);
    expect(readdirSync(ctx.snapshotsDir)).toEqual([kept.id]);
    expect(listSnapshots(db).map((s) => s.id)).toEqual([kept.id]);
    expect(readdirSync(disks).sort()).toEqual(["data.img", "logs.img"]);
    // And the snapshot that survived still restores.
    await restoreSnapshot(ctx, kept.id);
  });

  it("a copy that fails leaves no snapshot and no half-restored disk behind", async () => {
    const snapshot = await take();
    const before = await hashDisk(join(disks, "data.img"));
    const bin = join(root, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "cp"), "#!/bin/sh\necho 'cp: No space left on device' >&2\nexit 1\n", {
      mode: 0o755,
    });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      await expect(take()).rejects.toThrow(/No space left on device/);
      await expect(restoreSnapshot(ctx, snapshot.id)).rejects.toThrow(/No space left on device/);
    } finally {
      process.env.PATH = path;
    }
    expect(listSnapshots(db).map((s) => s.id)).toEqual([snapshot.id]);
    expect(readdirSync(ctx.snapshotsDir)).toEqual([snapshot.id]);
    expect(readdirSync(disks).sort()).toEqual(["data.img", "logs.img"]);
    expect(await hashDisk(join(disks, "data.img"))).toBe(before);
  });
  it.runIf(process.getuid?.() === 0)(
    "refuses while a disk is mounted or attached to a loop device",
    async () => {
      const snapshot = await take();
      const { stateDir } = machineDirs(ctx.instancesDir, instance, machine);
      const mountPoint = join(stateDir, "disks", "data");
      mkdirSync(mountPoint, { recursive: true });
      execFileSync("mount", ["-t", "tmpfs", "tmpfs", mountPoint]);
      try {
        await expect(restoreSnapshot(ctx, snapshot.id)).rejects.toMatchObject({
          code: "DATA_DISK_IN_USE",
          message: expect.stringContaining(`${mountPoint} is mounted`),
        });
        await expect(take()).rejects.toMatchObject({ code: "DATA_DISK_IN_USE" });
      } finally {
        execFileSync("umount", [mountPoint]);
      }
      const device = execFileSync("losetup", ["--find", "--show", "--read-only", join(disks, "logs.img")], {
        encoding: "utf8",
      }).trim();
      try {
        await expect(restoreSnapshot(ctx, snapshot.id)).rejects.toMatchObject({
          code: "DATA_DISK_IN_USE",
          message: expect.stringContaining("logs.img is attached"),
        });
      } finally {
        execFileSync("losetup", ["-d", device]);
      }
      await restoreSnapshot(ctx, snapshot.id);
    },
  );
});
