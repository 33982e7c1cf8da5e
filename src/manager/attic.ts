/**
 * The attic (paper, section 5.3): where a component removed by an update goes, data disks and machine
 * state together, so that a later component of the same name starts empty and nothing is ever deleted
 * silently. An entry is `<attic>/<id>/` with
 *
 *   entry.json   what it was (file, object, component path, program), where from, when and why
 *   machine/     the machine's state dir (copy-on-write layer, logs, parameters, driver record)
 *   disks/       its data disk images (<device>.img)
 *
 * and a row in the `attic` table. Ids read as what they are and sort by time:
 * `20261123T174501Z-Acme-db`.
 *
 * Crash safety. A move first writes entry.json into `<attic>/.partial-<id>/`, then renames the state dir
 * and the disks dir into it (same file system: renames, never copies), renames the partial dir to
 * `<id>` (the commit point) and only then inserts the row. sweepAttic() at daemon start puts a partial
 * move back where it came from (the old layout) and records a complete dir whose row is missing. A purge
 * renames the entry to `.trash-...`, deletes the row, then the files; the sweep finishes one cut short.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CollectiveError } from "../errors.js";
import type { Db } from "../state/database.js";
import { pathExists } from "../sys/path-exists.js";
import {
  assertNotInUse,
  compactStamp,
  type DiskFile,
  diskImages,
  fsyncParent,
  fsyncPath,
  isEntryId,
  machineDirs,
  sanitizeName,
  uniqueName,
} from "./machine-files.js";

export interface AtticContext {
  readonly db: Db;
  readonly instancesDir: string;
  readonly atticDir: string;
}

export interface AtticInput {
  readonly instanceId: string;
  /** The CVL file and object the component belonged to. */
  readonly file: string;
  readonly object: string;
  /** Its dotted path ("" for a root machine). */
  readonly path: string;
  readonly machineId: string;
  readonly repository: string | null;
  readonly version: number | null;
  /** Why, e.g. "removed from acme.cvl by cui update". */
  readonly reason: string;
}

/** entry.json. */
export interface AtticEntryFile {
  readonly format: 1;
  readonly id: string;
  readonly instanceId: string;
  readonly file: string;
  readonly object: string;
  readonly path: string;
  readonly machineId: string;
  readonly repository: string | null;
  readonly version: number | null;
  readonly reason: string;
  readonly at: string;
  /** Where its parts came from (what a sweep puts back after a half-done move). */
  readonly from: { readonly machine: string; readonly disks: string };
  readonly disks: DiskFile[];
  /** Set when its data disks were restored. */
  readonly restored?: {
    readonly instanceId: string;
    readonly machineId: string;
    readonly path: string;
    readonly to: string;
    readonly at: string;
  };
}

export interface AtticEntry {
  readonly id: string;
  readonly instanceId: string;
  readonly file: string;
  readonly object: string;
  readonly path: string;
  readonly repository: string | null;
  readonly version: number | null;
  readonly dir: string;
  readonly reason: string;
  /** ISO time it was moved to the attic. */
  readonly at: string;
  /** The data disk images still in the entry (only when listAttic is given the attic dir). */
  readonly disks?: DiskFile[];
  readonly restored?: AtticEntryFile["restored"];
}

interface AtticRow {
  id: string;
  instance_id: string;
  file: string;
  object: string;
  path: string;
  repository: string | null;
  version: number | null;
  dir: string;
  reason: string;
  at: string;
}

const ENTRY = "entry.json";
const PARTIAL = ".partial-";
const TRASH = ".trash-";

function fromRow(row: AtticRow): AtticEntry {
  return {
    id: row.id,
    instanceId: row.instance_id,
    file: row.file,
    object: row.object,
    path: row.path,
    repository: row.repository,
    version: row.version,
    dir: row.dir,
    reason: row.reason,
    at: row.at,
  };
}

async function writeDurably(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await fsyncPath(temporary);
  await rename(temporary, path);
  await fsyncParent(path);
}

/** rename(2), but a missing source is `false` rather than an error. */
async function renameIfExists(from: string, to: string): Promise<boolean> {
  return rename(from, to).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return false;
      throw error;
    },
  );
}

function insertRow(db: Db, entry: AtticEntryFile, dir: string): void {
  db.prepare(
    `INSERT OR IGNORE INTO attic (id, instance_id, file, object, path, repository, version, dir, reason, at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    entry.id,
    entry.instanceId,
    entry.file,
    entry.object,
    entry.path,
    entry.repository,
    entry.version,
    dir,
    entry.reason,
    entry.at,
  );
}

/**
 * Moves the (stopped) machine's state dir and data disks into a new attic entry. Returns its id, or
 * null when the machine has neither (nothing to keep). Refuses while anything of it is mounted.
 */
export async function moveToAttic(ctx: AtticContext, input: AtticInput): Promise<{ id: string | null }> {
  const dirs = machineDirs(ctx.instancesDir, input.instanceId, input.machineId);
  const label = `moving ${input.path || "(root)"} of ${input.object} to the attic`;
  const hasState = await pathExists(dirs.stateDir);
  const hasDisks = await pathExists(dirs.disksDir);
  if (!hasState && !hasDisks) return { id: null };
  await assertNotInUse(label, dirs);
  const now = new Date();
  await mkdir(ctx.atticDir, { recursive: true, mode: 0o700 });
  const id = await uniqueName(
    `${compactStamp(now)}-${sanitizeName(input.object, 40)}-${sanitizeName(input.path || "root", 60)}`,
    async (name) =>
      ctx.db.prepare("SELECT 1 FROM attic WHERE id = ?").get(name) !== undefined ||
      (await pathExists(join(ctx.atticDir, name))) ||
      (await pathExists(join(ctx.atticDir, `${PARTIAL}${name}`))),
  );
  const entry: AtticEntryFile = {
    format: 1,
    id,
    instanceId: input.instanceId,
    file: input.file,
    object: input.object,
    path: input.path,
    machineId: input.machineId,
    repository: input.repository,
    version: input.version,
    reason: input.reason,
    at: now.toISOString(),
    from: { machine: dirs.stateDir, disks: dirs.disksDir },
    disks: await diskImages(dirs.disksDir),
  };
  const partial = join(ctx.atticDir, `${PARTIAL}${id}`);
  const dir = join(ctx.atticDir, id);
  await mkdir(partial, { mode: 0o700 });
  await writeDurably(join(partial, ENTRY), `${JSON.stringify(entry, null, 2)}\n`);
  try {
    if (await renameIfExists(dirs.stateDir, join(partial, "machine"))) await fsyncParent(dirs.stateDir);
    if (await renameIfExists(dirs.disksDir, join(partial, "disks"))) await fsyncParent(dirs.disksDir);
    await fsyncPath(partial);
    await rename(partial, dir); // the commit point
    await fsyncParent(dir);
  } catch (error) {
    await undoPartial(partial, entry).catch(() => undefined);
    throw error;
  }
  insertRow(ctx.db, entry, dir);
  return { id };
}

/**
 * Puts the parts of a half-done move back where they came from and removes the partial dir. A part
 * whose old place is taken again stays, and the entry is then committed instead: nothing is deleted.
 * Returns whether the entry was committed (true) or rolled back (false).
 */
async function undoPartial(partial: string, entry: AtticEntryFile): Promise<boolean> {
  let stuck = false;
  for (const [part, origin] of [
    ["machine", entry.from.machine],
    ["disks", entry.from.disks],
  ] as const) {
    const inside = join(partial, part);
    if (!(await pathExists(inside))) continue;
    if (await pathExists(origin)) {
      stuck = true;
      continue;
    }
    await mkdir(dirname(origin), { recursive: true });
    await rename(inside, origin);
    await fsyncParent(origin);
  }
  if (stuck) return true;
  await rm(partial, { recursive: true, force: true });
  return false;
}

function atticRow(db: Db, id: string): AtticRow | undefined {
  return db.prepare("SELECT * FROM attic WHERE id = ?").get(id) as AtticRow | undefined;
}

async function readEntryFile(dir: string): Promise<AtticEntryFile | undefined> {
  const text = await readFile(join(dir, ENTRY), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as AtticEntryFile;
  } catch {
    return undefined;
  }
}

/** Attic entries, newest first. Given the attic dir, each also lists the disks it still holds. */
export async function listAttic(db: Db, atticDir?: string): Promise<AtticEntry[]> {
  const rows = db.prepare("SELECT * FROM attic ORDER BY at DESC, id DESC").all() as AtticRow[];
  const entries = rows.map(fromRow);
  if (atticDir === undefined) return entries;
  return Promise.all(
    entries.map(async (entry) => {
      const dir = join(atticDir, entry.id);
      const file = await readEntryFile(dir);
      return {
        ...entry,
        disks: await diskImages(join(dir, "disks")),
        ...(file?.restored ? { restored: file.restored } : {}),
      };
    }),
  );
}

/** The entry, or NOT_FOUND naming the entries there are. */
export function atticEntry(db: Db, id: string): AtticEntry {
  const row = isEntryId(id) ? atticRow(db, id) : undefined;
  if (row !== undefined) return fromRow(row);
  const ids = (
    db.prepare("SELECT id FROM attic ORDER BY at DESC, id DESC").all() as Array<{ id: string }>
  ).map((r) => r.id);
  throw new CollectiveError(
    "NOT_FOUND",
    ids.length === 0
      ? `there is no attic entry ${id}: the attic is empty`
      : `there is no attic entry ${id}; the attic holds ${ids.slice(0, 10).join(", ")}${ids.length > 10 ? ` and ${ids.length - 10} more` : ""}`,
    { hint: "'cui attic list' shows the entries" },
  );
}

export interface RestoreTarget {
  readonly instanceId: string;
  readonly machineId: string;
  /** The component path, for messages and the entry's record of where its disks went. */
  readonly path: string;
}

/**
 * Moves the entry's data disks back as the target machine's data disks (one rename). Refuses with
 * OCCUPIED when the target already has a state dir or data disks, and with NOT_FOUND when there is no
 * such entry. The entry keeps the old machine state (logs, copy-on-write layer) and notes where its
 * disks went; only purgeAttic deletes it. Returns the image file names moved and where to.
 */
export async function restoreFromAttic(
  ctx: AtticContext,
  entryId: string,
  target: RestoreTarget,
): Promise<{ disks: string[]; to: string }> {
  const entry = atticEntry(ctx.db, entryId);
  const dir = join(ctx.atticDir, entry.id);
  const file = await readEntryFile(dir);
  const source = join(dir, "disks");
  const disks = await diskImages(source);
  if (disks.length === 0) {
    const where = file?.restored
      ? `; they were restored to ${file.restored.path || "(root)"} at ${file.restored.at}`
      : "";
    throw new CollectiveError("NOTHING_TO_RESTORE", `attic entry ${entry.id} holds no data disks${where}`, {
      hint: "'cui attic list' shows what each entry holds",
    });
  }
  const dirs = machineDirs(ctx.instancesDir, target.instanceId, target.machineId);
  const name = target.path || "(root)";
  const occupiedBy: string[] = [];
  if (await pathExists(dirs.stateDir)) occupiedBy.push("machine state");
  const present = await readdir(dirs.disksDir).catch(() => [] as string[]);
  if (present.length > 0) {
    const images = present.filter((n) => n.endsWith(".img"));
    occupiedBy.push(images.length > 0 ? `data disks (${images.join(", ")})` : `files in ${dirs.disksDir}`);
  }
  if (occupiedBy.length > 0) {
    throw new CollectiveError(
      "OCCUPIED",
      `cannot restore ${entry.id} into ${name}: it already has ${occupiedBy.join(" and ")}`,
      {
        hint: "restore into a component that has never run ('--as OTHER.PATH'), or first remove this one from the file and 'cui update' (its data goes to the attic too)",
      },
    );
  }
  await mkdir(dirname(dirs.disksDir), { recursive: true, mode: 0o700 });
  if (present.length === 0 && (await pathExists(dirs.disksDir))) await rmdir(dirs.disksDir);
  await rename(source, dirs.disksDir).catch((error: NodeJS.ErrnoException) => {
    // Another restore got there first (between the check and the rename).
    if (error.code === "ENOTEMPTY" || error.code === "EEXIST") {
      throw new CollectiveError("OCCUPIED", `cannot restore ${entry.id} into ${name}: it has data disks now`);
    }
    if (error.code === "ENOENT") {
      throw new CollectiveError("NOTHING_TO_RESTORE", `attic entry ${entry.id} holds no data disks any more`);
    }
    throw error;
  });
  await fsyncParent(dirs.disksDir);
  await fsyncPath(dir);
  if (file !== undefined) {
    const restored = { ...target, to: dirs.disksDir, at: new Date().toISOString() };
    await writeDurably(join(dir, ENTRY), `${JSON.stringify({ ...file, restored }, null, 2)}\n`);
  }
  return { disks: disks.map((d) => d.file), to: dirs.disksDir };
}

/** Deletes an entry and everything in it: the only way anything leaves the attic. */
export async function purgeAttic(ctx: AtticContext, entryId: string): Promise<{ id: string }> {
  const entry = atticEntry(ctx.db, entryId);
  const dir = join(ctx.atticDir, entry.id);
  const trash = join(ctx.atticDir, `${TRASH}${entry.id}-${randomBytes(3).toString("hex")}`);
  const moved = await renameIfExists(dir, trash);
  if (moved) await fsyncParent(trash);
  ctx.db.prepare("DELETE FROM attic WHERE id = ?").run(entry.id);
  if (moved) await rm(trash, { recursive: true, force: true });
  return { id: entry.id };
}

export interface AtticSweepReport {
  /** Half-done moves put back where they came from. */
  readonly rolledBack: string[];
  /** Complete entries whose row was missing, now recorded. */
  readonly recorded: string[];
  /** Rows whose entry dir was gone (a purge cut short), now deleted. */
  readonly forgotten: string[];
  /** Leftovers of purges removed. */
  readonly removed: string[];
}

/**
 * Run at daemon start, before reconcile: finishes or undoes what a crash interrupted (see the file
 * comment), so that every component is either in its old place or in a complete, recorded entry.
 */
export async function sweepAttic(ctx: AtticContext): Promise<AtticSweepReport> {
  const report = {
    rolledBack: [] as string[],
    recorded: [] as string[],
    forgotten: [] as string[],
    removed: [] as string[],
  };
  const names = await readdir(ctx.atticDir).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(ctx.atticDir, name);
    if (name.startsWith(TRASH)) {
      await rm(path, { recursive: true, force: true });
      report.removed.push(path);
    } else if (name.startsWith(PARTIAL)) {
      const id = name.slice(PARTIAL.length);
      const entry = await readEntryFile(path);
      if (entry === undefined) {
        // Crashed before entry.json was complete: nothing was moved yet (entry.json comes first).
        const parts = (await readdir(path).catch(() => [] as string[])).filter((n) => n !== `${ENTRY}.tmp`);
        if (parts.length === 0) {
          await rm(path, { recursive: true, force: true });
          report.removed.push(path);
        }
        continue;
      }
      if (await undoPartial(path, entry)) {
        await rename(path, join(ctx.atticDir, id));
        insertRow(ctx.db, entry, join(ctx.atticDir, id));
        report.recorded.push(id);
      } else report.rolledBack.push(id);
    } else if (isEntryId(name) && atticRow(ctx.db, name) === undefined) {
      const entry = await readEntryFile(path);
      if (entry !== undefined && entry.id === name) {
        insertRow(ctx.db, entry, path);
        report.recorded.push(name);
      }
    }
  }
  for (const { id } of ctx.db.prepare("SELECT id FROM attic").all() as Array<{ id: string }>) {
    if (!(await pathExists(join(ctx.atticDir, id)))) {
      ctx.db.prepare("DELETE FROM attic WHERE id = ?").run(id);
      report.forgotten.push(id);
    }
  }
  return report;
}
