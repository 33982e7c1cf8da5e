import { describe, expect, test } from "vitest";
import { openDatabase } from "../state/database.js";
import { AutoUpdater, autoUpdateIntervalMs, inWindow, parseWindow } from "./autoupdate.js";
import type { Operations } from "./operations.js";

const at = (hhmm: string) => new Date(`2026-11-23T${hhmm}:00`);

describe("maintenance windows", () => {
  test.each([
    { window: null, time: "13:00", inside: true },
    { window: "02:00-04:30", time: "02:00", inside: true },
    { window: "02:00-04:30", time: "04:29", inside: true },
    { window: "02:00-04:30", time: "04:30", inside: false },
    { window: "02:00-04:30", time: "01:59", inside: false },
    { window: "23:00-01:00", time: "23:30", inside: true },
    { window: "23:00-01:00", time: "00:30", inside: true },
    { window: "23:00-01:00", time: "01:00", inside: false },
  ])("$window at $time: $inside", ({ window, time, inside }) => {
    expect(inWindow(window, at(time))).toBe(inside);
  });

  test.each(["2-4", "02:00", "24:00-01:00", "02:60-03:00", "03:00-03:00", "02:00-04:30 "])(
    "%j is refused with the form to use",
    (text) => {
      expect(() => parseWindow(text)).toThrow(/time window|empty/);
    },
  );

  test("the interval: an hour by default, seconds otherwise, never below 10 s", () => {
    expect(autoUpdateIntervalMs(undefined)).toBe(3_600_000);
    expect(autoUpdateIntervalMs("60")).toBe(60_000);
    expect(() => autoUpdateIntervalMs("5")).toThrow(/at least 10/);
    expect(() => autoUpdateIntervalMs("1h")).toThrow(/whole number of seconds/);
  });
});

describe("AutoUpdater", () => {
  function setup(now: string) {
    const db = openDatabase(":memory:");
    const now0 = new Date().toISOString();
    db.prepare(
      "INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES ('i1', '/a.cvl', 'A', 'running', '{}', ?, ?)",
    ).run(now0, now0);
    const calls: Array<{ file: string; automatic: boolean | undefined }> = [];
    const operations = {
      updates: {
        update: async (
          file: string,
          _only: unknown,
          _progress: unknown,
          options: { automatic?: boolean },
        ) => {
          calls.push({ file, automatic: options.automatic });
          return {
            instance: "i1",
            appliance: "A",
            applied: true,
            actions: [{ action: "update", path: "www", from: 1, to: 2 }],
          };
        },
      },
    } as unknown as Operations;
    const lines: string[] = [];
    const updater = new AutoUpdater(db, operations, {
      intervalMs: 60_000,
      log: (l) => lines.push(l),
      now: () => at(now),
    });
    return { updater, calls, lines };
  }

  test("applies updates as automatic, inside the window only, and records the result", async () => {
    const { updater, calls } = setup("03:00");
    updater.set("/a.cvl", true, "02:00-04:00");
    await updater.checkAll();
    expect(calls).toEqual([{ file: "/a.cvl", automatic: true }]);
    expect(updater.list()[0]).toMatchObject({
      enabled: true,
      window: "02:00-04:00",
      lastResult: "updated: update www v1->v2",
    });
  });

  test("outside the window nothing happens, unless forced ('cui autoupdate FILE now')", async () => {
    const { updater, calls } = setup("12:00");
    updater.set("/a.cvl", true, "02:00-04:00");
    await updater.checkAll();
    expect(calls).toEqual([]);
    await updater.checkAll({ force: true });
    expect(calls).toHaveLength(1);
  });

  test("off, and unknown files, are refused or skipped plainly", async () => {
    const { updater, calls } = setup("03:00");
    updater.set("/a.cvl", false, null);
    await updater.checkAll({ force: true });
    expect(calls).toEqual([]);
    expect(() => updater.set("/nothing.cvl", true, null)).toThrow(/nothing was started from \/nothing.cvl/);
    expect(() => updater.set("/a.cvl", true, "soon")).toThrow(/not a time window/);
  });
});
