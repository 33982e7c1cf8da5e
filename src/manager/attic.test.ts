import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Db, openDatabase } from "../state/database.js";
import {
  type AtticContext,
  type AtticEntryFile,
  listAttic,
  moveToAttic,
  purgeAttic,
  restoreFromAttic,
  sweepAttic,
} from "./attic.js";
import { machineDirs } from "./machine-files.js";
import { machineId } from "./machine-request.js";
import { hashDisk } from "./snapshots.js";

const MiB = 1024 * 1024;
const instance = "i0123456789a";

function sparseImage(path: string, size: number, text: string): void {
  const fd = openSync(path, "w");
  ftruncateSync(fd, size);
  writeSync(fd, Buffer.from(text), 0, text.length, size / 2);
  closeSync(fd);
}

describe("the attic", () => {
  let root: string;
  let db: Db;
  let ctx: AtticContext;

  /** A machine that ran: a state dir with a log and a data disk with data on it. */
  function machineThatRan(path: string): { stateDir: string; disksDir: string; hash: Promise<string> } {
    const dirs = machineDirs(ctx.instancesDir, instance, machineId(instance, path));
    mkdirSync(join(dirs.stateDir, "logs"), { recursive: true });
    writeFileSync(join(dirs.stateDir, "logs", "console.log"), `${path} was here\n`);
    mkdirSync(dirs.disksDir, { recursive: true });
    sparseImage(join(dirs.disksDir, "data.img"), 16 * MiB, `rows of ${path}`);
    return { ...dirs, hash: hashDisk(join(dirs.disksDir, "data.img")) };
  }

  const input = (path: string) => ({
    instanceId: instance,
    file: "/srv/acme.cvl",
    object: "Acme",
    path,
    machineId: machineId(instance, path),
    repository: "https://repo.example/db",
    version: 3,
    reason: "removed from /srv/acme.cvl by cui update",
  });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cvt-attic-"));
    db = openDatabase(join(root, "state.db"));
    ctx = { db, instancesDir: join(root, "instances"), atticDir: join(root, "attic") };
  });
  afterEach(() => {
    vi.useRealTimers();
    db.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("moves a removed component's state and disks into a dated entry; a new one of that name starts empty", async () => {
    const db1 = machineThatRan("db");
    const hash = await db1.hash;
    const { id } = await moveToAttic(ctx, input("db"));
    expect(id).toMatch(/^[0-9]{8}T[0-9]{6}Z-Acme-db$/);
    expect(existsSync(db1.stateDir)).toBe(false);
    expect(existsSync(db1.disksDir)).toBe(false);
    const dir = join(ctx.atticDir, id!);
    expect(readdirSync(dir).sort()).toEqual(["disks", "entry.json", "machine"]);
    expect(readFileSync(join(dir, "machine", "logs", "console.log"), "utf8")).toBe("db was here\n");
    expect(await hashDisk(join(dir, "disks", "data.img"))).toBe(hash);
    const entry = JSON.parse(readFileSync(join(dir, "entry.json"), "utf8")) as AtticEntryFile;
    expect(entry).toMatchObject({
      id,
      file: "/srv/acme.cvl",
      object: "Acme",
      path: "db",
      version: 3,
      reason: "removed from /srv/acme.cvl by cui update",
      from: { machine: db1.stateDir, disks: db1.disksDir },
      disks: [{ file: "data.img", size: 16 * MiB }],
    });

    const listed = await listAttic(db, ctx.atticDir);
    expect(listed).toEqual([
      expect.objectContaining({
        id,
        file: "/srv/acme.cvl",
        path: "db",
        version: 3,
        disks: [{ file: "data.img", size: 16 * MiB }],
      }),
    ]);
    expect((await listAttic(db))[0]).not.toHaveProperty("disks");
  });

  it("gives two removals of the same name in the same second different entries", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-23T17:45:01.250Z"));
    machineThatRan("db");
    const first = await moveToAttic(ctx, input("db"));
    vi.setSystemTime(new Date("2026-11-23T17:45:01.750Z"));
    machineThatRan("db");
    const second = await moveToAttic(ctx, input("db"));
    vi.useRealTimers();
    expect(first.id).toBe("20261123T174501Z-Acme-db");
    expect(second.id).toBe("20261123T174501Z-Acme-db-2");
    expect((await listAttic(db)).map((e) => e.id).sort()).toEqual([first.id, second.id].sort());
  });

  it("has nothing to keep for a machine that never ran", async () => {
    expect(await moveToAttic(ctx, input("never"))).toEqual({ id: null });
    expect(await listAttic(db)).toEqual([]);
  });

  it("sanitises odd object and path names into the id", async () => {
    machineThatRan("g.f");
    const { id } = await moveToAttic(ctx, { ...input("g.f"), object: "Mail Server/../x" });
    expect(id).toMatch(/^[0-9]{8}T[0-9]{6}Z-Mail-Server-x-g\.f$/);
    expect(id).not.toContain("/");
    expect(id).not.toContain("..");
  });

  it("restores the disks into a component that has never run, byte-identical; the entry remembers", async () => {
    const old = machineThatRan("db");
    const hash = await old.hash;
    const { id } = await moveToAttic(ctx, input("db"));
    const target = { instanceId: instance, machineId: machineId(instance, "db2"), path: "db2" };
    const result = await restoreFromAttic(ctx, id!, target);
    const disks = machineDirs(ctx.instancesDir, instance, target.machineId).disksDir;
    expect(result).toEqual({ disks: ["data.img"], to: disks });
    expect(await hashDisk(join(disks, "data.img"))).toBe(hash);

    const [entry] = await listAttic(db, ctx.atticDir);
    expect(entry).toMatchObject({ id, disks: [], restored: { path: "db2", to: disks } });
    // The old machine state stays until purged.
    expect(existsSync(join(ctx.atticDir, id!, "machine", "logs", "console.log"))).toBe(true);
    await expect(restoreFromAttic(ctx, id!, target)).rejects.toMatchObject({
      code: "NOTHING_TO_RESTORE",
      message: expect.stringContaining("restored to db2"),
    });
  });

  it("refuses to restore into an occupied name, and leaves both sides untouched", async () => {
    machineThatRan("db");
    const { id } = await moveToAttic(ctx, input("db"));
    const current = machineThatRan("db");
    const currentHash = await current.hash;
    const target = { instanceId: instance, machineId: machineId(instance, "db"), path: "db" };
    await expect(restoreFromAttic(ctx, id!, target)).rejects.toMatchObject({
      code: "OCCUPIED",
      message: `cannot restore ${id} into db: it already has machine state and data disks (data.img)`,
    });
    // Only a disks dir (a component created but never started) is occupied too.
    rmSync(current.stateDir, { recursive: true });
    await expect(restoreFromAttic(ctx, id!, target)).rejects.toMatchObject({ code: "OCCUPIED" });
    expect(await hashDisk(join(current.disksDir, "data.img"))).toBe(currentHash);
    expect((await listAttic(db, ctx.atticDir))[0]?.disks).toHaveLength(1);
  });

  it("says which entries exist when asked for one that does not", async () => {
    const target = { instanceId: instance, machineId: machineId(instance, "db"), path: "db" };
    await expect(restoreFromAttic(ctx, "20260101T000000Z-Acme-db", target)).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: "there is no attic entry 20260101T000000Z-Acme-db: the attic is empty",
    });
    machineThatRan("db");
    const { id } = await moveToAttic(ctx, input("db"));
    await expect(purgeAttic(ctx, "nope")).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: `there is no attic entry nope; the attic holds ${id}`,
    });
  });

  it("purge deletes the entry and its files, and only that entry", async () => {
    machineThatRan("db");
    machineThatRan("web");
    const a = await moveToAttic(ctx, input("db"));
    const b = await moveToAttic(ctx, input("web"));
    expect(await purgeAttic(ctx, a.id!)).toEqual({ id: a.id });
    expect(readdirSync(ctx.atticDir)).toEqual([b.id]);
    expect((await listAttic(db)).map((e) => e.id)).toEqual([b.id]);
  });

  describe("after a crash, the sweep leaves the old layout or a complete entry", () => {
    async function halfMoved(
      parts: Array<"machine" | "disks">,
    ): Promise<{ id: string; stateDir: string; disksDir: string }> {
      const m = machineThatRan("db");
      const { id } = await moveToAttic(ctx, input("db"));
      // Rebuild the state of a move cut short: the entry dir not yet renamed, some parts not yet moved.
      const partial = join(ctx.atticDir, `.partial-${id}`);
      renameSync(join(ctx.atticDir, id!), partial);
      db.prepare("DELETE FROM attic").run();
      if (!parts.includes("machine")) renameSync(join(partial, "machine"), m.stateDir);
      if (!parts.includes("disks")) renameSync(join(partial, "disks"), m.disksDir);
      return { id: id!, stateDir: m.stateDir, disksDir: m.disksDir };
    }

    it("a move cut short after the state dir went is put back", async () => {
      const m = await halfMoved(["machine"]);
      const report = await sweepAttic(ctx);
      expect(report.rolledBack).toEqual([m.id]);
      expect(existsSync(join(m.stateDir, "logs", "console.log"))).toBe(true);
      expect(existsSync(join(m.disksDir, "data.img"))).toBe(true);
      expect(readdirSync(ctx.atticDir)).toEqual([]);
      expect(await listAttic(db)).toEqual([]);
    });

    it("a move cut short after both parts went, before the commit, is put back", async () => {
      const m = await halfMoved(["machine", "disks"]);
      await sweepAttic(ctx);
      expect(existsSync(join(m.disksDir, "data.img"))).toBe(true);
      expect(readdirSync(ctx.atticDir)).toEqual([]);
    });

    it("a move cut short whose old place was taken again is committed instead: nothing is lost", async () => {
      const m = await halfMoved(["machine", "disks"]);
      mkdirSync(m.stateDir, { recursive: true });
      const report = await sweepAttic(ctx);
      expect(report.recorded).toEqual([m.id]);
      expect(existsSync(join(m.disksDir, "data.img"))).toBe(true);
      const [entry] = await listAttic(db, ctx.atticDir);
      expect(entry?.id).toBe(m.id);
      expect(existsSync(join(ctx.atticDir, m.id, "machine", "logs", "console.log"))).toBe(true);
    });

    it("a committed move whose row was not written is recorded", async () => {
      machineThatRan("db");
      const { id } = await moveToAttic(ctx, input("db"));
      db.prepare("DELETE FROM attic").run();
      const report = await sweepAttic(ctx);
      expect(report.recorded).toEqual([id]);
      expect(await listAttic(db)).toEqual([
        expect.objectContaining({ id, path: "db", file: "/srv/acme.cvl", reason: input("db").reason }),
      ]);
    });

    it("a purge cut short is finished; a partial dir with no entry.json yet is removed", async () => {
      machineThatRan("db");
      const { id } = await moveToAttic(ctx, input("db"));
      renameSync(join(ctx.atticDir, id!), join(ctx.atticDir, `.trash-${id}-abcdef`));
      mkdirSync(join(ctx.atticDir, ".partial-20260101T000000Z-Acme-web"));
      writeFileSync(join(ctx.atticDir, ".partial-20260101T000000Z-Acme-web", "entry.json.tmp"), "{");
      const report = await sweepAttic(ctx);
      expect(report.forgotten).toEqual([id]);
      expect(readdirSync(ctx.atticDir)).toEqual([]);
      expect(await listAttic(db)).toEqual([]);
    });
  });
});
