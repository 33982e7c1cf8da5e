/**
 * Data disk snapshots (issue 5, "Safety net"): before an update replaces a component's program, its data
 * disks are copied to `<snapshots>/<id>/` so that a failed update, or `cui rollback --data`, can put them
 * back byte for byte. Copies are copy-on-write where the file system allows (reflink) and sparse
 * otherwise. Each snapshot dir holds the images and a manifest.json (the machine, each disk's size).
 *
 * Crash safety: a snapshot is copied into `.partial-<id>`, synced, renamed to `<id>`, and only then
 * recorded in the database; pruning renames the dir to `.trash-<id>`, deletes the row, then the files.
 * So a row always names a complete dir, except when a prune was cut short (the row's dir is gone), and
 * sweepSnapshots() at daemon start deletes such rows, every dir without a row and every leftover
 * temporary file.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import type { Db } from "../state/database.js";
import { pathExists } from "../sys/path-exists.js";
import {
  assertNotInUse,
  compactStamp,
  copyDiskImage,
  type DiskFile,
  diskImages,
  fsyncParent,
  fsyncPath,
  isEntryId,
  machineDirs,
  sanitizeName,
  uniqueName,
} from "./machine-files.js";
import { machineId as machineIdOf } from "./machine-request.js";

/** How many snapshots of each component are kept when no other number is configured. */
export const DEFAULT_SNAPSHOT_KEEP = 3;

/**
 * The configured retention: COLLECTIVE_SNAPSHOT_KEEP (a whole number, at least 1) in the daemon's
 * environment, else DEFAULT_SNAPSHOT_KEEP.
 */
export function snapshotRetention(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.COLLECTIVE_SNAPSHOT_KEEP;
  if (text === undefined || text === "") return DEFAULT_SNAPSHOT_KEEP;
  const keep = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(keep) || keep < 1) {
    throw new CollectiveError(
      "BAD_VALUE",
      `COLLECTIVE_SNAPSHOT_KEEP is "${text}"; it must be a whole number of snapshots to keep, at least 1`,
    );
  }
  return keep;
}

export interface SnapshotContext {
  readonly db: Db;
  readonly instancesDir: string;
  readonly snapshotsDir: string;
}

export interface SnapshotInput {
  readonly instanceId: string;
  /** The component's dotted path ("" for a root machine). */
  readonly path: string;
  readonly machineId: string;
  /** The program the disks were used with (what a rollback goes back to). */
  readonly repository: string | null;
  readonly version: number | null;
  /** Why it was taken, e.g. "before update to version 4". */
  readonly reason: string;
}

export interface Snapshot {
  readonly id: string;
  readonly instanceId: string;
  readonly path: string;
  readonly repository: string | null;
  readonly version: number | null;
  readonly dir: string;
  readonly reason: string;
  /** ISO time it was taken. */
  readonly at: string;
}

/** manifest.json in each snapshot dir. */
export interface SnapshotManifest {
  readonly format: 1;
  readonly id: string;
  readonly instanceId: string;
  readonly path: string;
  readonly machineId: string;
  readonly repository: string | null;
  readonly version: number | null;
  readonly reason: string;
  readonly at: string;
  readonly disks: DiskFile[];
}

interface SnapshotRow {
  id: string;
  instance_id: string;
  path: string;
  repository: string | null;
  version: number | null;
  dir: string;
  reason: string;
  at: string;
}

function fromRow(row: SnapshotRow): Snapshot {
  return {
    id: row.id,
    instanceId: row.instance_id,
    path: row.path,
    repository: row.repository,
    version: row.version,
    dir: row.dir,
    reason: row.reason,
    at: row.at,
  };
}

const MANIFEST = "manifest.json";
const PARTIAL = ".partial-";
const TRASH = ".trash-";
/** Beside a data disk image while a restore copies over it. */
const RESTORING = ".restoring";

/**
 * Copies every data disk image of the (stopped) machine into a new snapshot and records it. Returns the
 * snapshot's id, its dir and the image file names. A machine without data disks gets a snapshot with no
 * images (so that a rollback knows there was nothing to keep).
 */
export async function takeSnapshot(
  ctx: SnapshotContext,
  input: SnapshotInput,
): Promise<{ id: string; dir: string; disks: string[] }> {
  const dirs = machineDirs(ctx.instancesDir, input.instanceId, input.machineId);
  const label = `snapshot of ${input.path || "(root)"}`;
  await assertNotInUse(label, dirs);
  const disks = await diskImages(dirs.disksDir);
  const now = new Date();
  await mkdir(ctx.snapshotsDir, { recursive: true, mode: 0o700 });
  const id = await uniqueName(
    `${compactStamp(now)}-${input.instanceId}-${sanitizeName(input.path || "root")}`,
    async (name) =>
      ctx.db.prepare("SELECT 1 FROM snapshots WHERE id = ?").get(name) !== undefined ||
      (await pathExists(join(ctx.snapshotsDir, name))) ||
      (await pathExists(join(ctx.snapshotsDir, `${PARTIAL}${name}`))),
  );
  const dir = join(ctx.snapshotsDir, id);
  const partial = join(ctx.snapshotsDir, `${PARTIAL}${id}`);
  await mkdir(partial, { mode: 0o700 });
  try {
    for (const disk of disks) await copyDiskImage(join(dirs.disksDir, disk.file), join(partial, disk.file));
    const manifest: SnapshotManifest = {
      format: 1,
      id,
      instanceId: input.instanceId,
      path: input.path,
      machineId: input.machineId,
      repository: input.repository,
      version: input.version,
      reason: input.reason,
      at: now.toISOString(),
      disks,
    };
    await writeFile(join(partial, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    await fsyncPath(join(partial, MANIFEST));
    await fsyncPath(partial);
    await rename(partial, dir);
    await fsyncParent(dir);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  ctx.db
    .prepare(
      "INSERT INTO snapshots (id, instance_id, path, repository, version, dir, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .run(
      id,
      input.instanceId,
      input.path,
      input.repository,
      input.version,
      dir,
      input.reason,
      now.toISOString(),
    );
  return { id, dir, disks: disks.map((d) => d.file) };
}

function snapshotRow(db: Db, id: string): SnapshotRow | undefined {
  return db.prepare("SELECT * FROM snapshots WHERE id = ?").get(id) as SnapshotRow | undefined;
}

/** The manifest of a recorded snapshot, checked: every image it lists is there with its size. */
export async function readSnapshotManifest(snapshotsDir: string, id: string): Promise<SnapshotManifest> {
  if (!isEntryId(id)) throw new CollectiveError("NOT_FOUND", `"${id}" is not a snapshot id`);
  const dir = join(snapshotsDir, id);
  const text = await readFile(join(dir, MANIFEST), "utf8").catch(() => undefined);
  if (text === undefined) {
    throw new CollectiveError("SNAPSHOT_DAMAGED", `snapshot ${id} has no files in ${dir}`, {
      hint: "it was deleted or its removal was interrupted; the daemon forgets it at its next start",
    });
  }
  const manifest = JSON.parse(text) as SnapshotManifest;
  for (const disk of manifest.disks) {
    const info = await stat(join(dir, disk.file)).catch(() => undefined);
    if (info?.size !== disk.size) {
      throw new CollectiveError(
        "SNAPSHOT_DAMAGED",
        `snapshot ${id}: ${disk.file} is ${info === undefined ? "missing" : `${info.size} bytes, not ${disk.size}`}`,
      );
    }
  }
  return manifest;
}

/**
 * Copies a snapshot's images back over the machine's data disk images, each one atomically (copied to
 * `<image>.restoring` beside it, synced, renamed over it). The machine must be stopped: a mounted or
 * attached disk is refused. Images the machine has that the snapshot does not are left alone (a newer
 * version's new disk is user data too). `machineId` defaults to the machine the snapshot was taken of.
 */
export async function restoreSnapshot(
  ctx: SnapshotContext,
  id: string,
  options: { machineId?: string } = {},
): Promise<void> {
  const row = isEntryId(id) ? snapshotRow(ctx.db, id) : undefined;
  if (row === undefined) {
    throw new CollectiveError("NOT_FOUND", `there is no snapshot ${id}`, {
      hint: "'cui snapshots FILE' lists the snapshots of an appliance",
    });
  }
  const manifest = await readSnapshotManifest(ctx.snapshotsDir, id);
  const machine = options.machineId ?? manifest.machineId ?? machineIdOf(row.instance_id, row.path);
  const dirs = machineDirs(ctx.instancesDir, row.instance_id, machine);
  await assertNotInUse(`restoring snapshot ${id} to ${row.path || "(root)"}`, dirs);
  await mkdir(dirs.disksDir, { recursive: true, mode: 0o700 });
  for (const disk of manifest.disks) {
    const target = join(dirs.disksDir, disk.file);
    const temporary = `${target}${RESTORING}`;
    await rm(temporary, { force: true });
    try {
      await copyDiskImage(join(ctx.snapshotsDir, id, disk.file), temporary);
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
  await fsyncPath(dirs.disksDir);
}

/** Snapshots, newest first: all, one instance's, or those of the instances started from a file. */
export function listSnapshots(db: Db, filter: { instanceId?: string; file?: string } = {}): Snapshot[] {
  const where: string[] = [];
  const args: string[] = [];
  if (filter.instanceId !== undefined) {
    where.push("instance_id = ?");
    args.push(filter.instanceId);
  }
  if (filter.file !== undefined) {
    where.push("instance_id IN (SELECT id FROM instances WHERE file = ?)");
    args.push(filter.file);
  }
  const rows = db
    .prepare(
      `SELECT * FROM snapshots ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY at DESC, id DESC`,
    )
    .all(...args) as SnapshotRow[];
  return rows.map(fromRow);
}

/** The newest snapshot of one component, if any. */
export function latestSnapshot(db: Db, instanceId: string, path: string): Snapshot | undefined {
  const row = db
    .prepare("SELECT * FROM snapshots WHERE instance_id = ? AND path = ? ORDER BY at DESC, id DESC LIMIT 1")
    .get(instanceId, path) as SnapshotRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

/** Removes one snapshot: dir out of the way (atomic), row, then the files. */
async function removeSnapshot(ctx: SnapshotContext, id: string): Promise<void> {
  const dir = join(ctx.snapshotsDir, id);
  const trash = join(ctx.snapshotsDir, `${TRASH}${id}-${randomBytes(3).toString("hex")}`);
  const moved = await rename(dir, trash).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return false;
      throw error;
    },
  );
  ctx.db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
  if (moved) await rm(trash, { recursive: true, force: true });
}

/**
 * The retention policy: keeps the newest `keep` snapshots of the component (at least one: the newest is
 * never deleted) and removes the rest. Returns the ids removed.
 */
export async function pruneSnapshots(
  ctx: SnapshotContext,
  instanceId: string,
  path: string,
  keep: number = DEFAULT_SNAPSHOT_KEEP,
): Promise<string[]> {
  const kept = Math.max(1, Math.floor(Number.isFinite(keep) ? keep : DEFAULT_SNAPSHOT_KEEP));
  const rows = ctx.db
    .prepare("SELECT id FROM snapshots WHERE instance_id = ? AND path = ? ORDER BY at DESC, id DESC")
    .all(instanceId, path) as Array<{ id: string }>;
  const removed: string[] = [];
  for (const { id } of rows.slice(kept)) {
    await removeSnapshot(ctx, id);
    removed.push(id);
  }
  return removed;
}

export interface SweepReport {
  /** Snapshot rows whose files were gone. */
  readonly forgotten: string[];
  /** Dirs and files removed: half-taken or half-deleted snapshots, dirs without a row, restore leftovers. */
  readonly removed: string[];
}

/**
 * Run at daemon start, before anything else touches snapshots: brings the snapshots dir and the table
 * back into agreement after a crash (see the file comment), and removes `*.img.restoring` files a cut
 * short restore left beside data disk images.
 */
export async function sweepSnapshots(ctx: SnapshotContext): Promise<SweepReport> {
  const forgotten: string[] = [];
  const removed: string[] = [];
  const rows = ctx.db.prepare("SELECT id FROM snapshots").all() as Array<{ id: string }>;
  const recorded = new Set(rows.map((r) => r.id));
  for (const { id } of rows) {
    const complete = isEntryId(id) && (await pathExists(join(ctx.snapshotsDir, id, MANIFEST)));
    if (!complete) {
      ctx.db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
      recorded.delete(id);
      forgotten.push(id);
      if (isEntryId(id)) {
        // A row without a manifest: whatever is left of its dir is not a usable snapshot.
        const dir = join(ctx.snapshotsDir, id);
        if (await pathExists(dir)) {
          await rm(dir, { recursive: true, force: true });
          removed.push(dir);
        }
      }
    }
  }
  const names = await readdir(ctx.snapshotsDir).catch(() => [] as string[]);
  for (const name of names) {
    if (recorded.has(name)) continue;
    const path = join(ctx.snapshotsDir, name);
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  for (const instance of await readdir(ctx.instancesDir).catch(() => [] as string[])) {
    const disksRoot = join(ctx.instancesDir, instance, "disks");
    for (const machine of await readdir(disksRoot).catch(() => [] as string[])) {
      const dir = join(disksRoot, machine);
      for (const file of await readdir(dir).catch(() => [] as string[])) {
        if (!file.endsWith(`.img${RESTORING}`)) continue;
        await rm(join(dir, file), { force: true });
        removed.push(join(dir, file));
      }
    }
  }
  return { forgotten, removed };
}

/** SHA-256 of a file, hex (for tests and checks: reading a large disk takes a while). */
export function hashDisk(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("end", () => resolve(hash.digest("hex")))
      .on("error", reject);
  });
}
