/**
 * Automatic updates (the paper's "TiVo" promise): the daemon checks the appliances whose owners turned
 * it on, now and then, and applies what it finds through exactly the same path as `cui update` (plan,
 * health gate, rollback). Within a maintenance window when one is set. Every check that finds work is
 * recorded in the history (automatic = 1), including the ones rolled back.
 */
import { CollectiveError } from "../errors.js";
import type { Db } from "../state/database.js";
import type { Operations, Progress } from "./operations.js";

export interface AutoUpdateSetting {
  file: string;
  enabled: boolean;
  /** "HH:MM-HH:MM" in the host's local time; null: any time. */
  window: string | null;
  lastCheck: string | null;
  lastResult: string | null;
}

/** Minutes since midnight of each end, validated. */
export function parseWindow(text: string): { from: number; to: number } {
  const match = /^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(text);
  if (!match) {
    throw new CollectiveError("BAD_WINDOW", `"${text}" is not a time window`, {
      hint: 'give it as HH:MM-HH:MM in 24-hour local time, e.g. "02:00-04:30" (it may wrap midnight: "23:00-01:00")',
      exitCode: 2,
    });
  }
  const from = Number(match[1]) * 60 + Number(match[2]);
  const to = Number(match[3]) * 60 + Number(match[4]);
  if (from === to) {
    throw new CollectiveError("BAD_WINDOW", `the window "${text}" is empty`, {
      hint: "leave --window out for any time",
      exitCode: 2,
    });
  }
  return { from, to };
}

export function inWindow(window: string | null, at: Date): boolean {
  if (window === null) return true;
  const { from, to } = parseWindow(window);
  const minute = at.getHours() * 60 + at.getMinutes();
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}

/** The check interval from COLLECTIVE_AUTOUPDATE_INTERVAL (seconds, at least 10); an hour by default. */
export function autoUpdateIntervalMs(text: string | undefined): number {
  if (text === undefined || text === "") return 3_600_000;
  if (!/^[0-9]+$/.test(text) || Number(text) < 10) {
    throw new CollectiveError(
      "BAD_VALUE",
      `COLLECTIVE_AUTOUPDATE_INTERVAL is "${text}"; it must be a whole number of seconds, at least 10`,
    );
  }
  return Number(text) * 1000;
}

export class AutoUpdater {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly operations: Operations,
    private readonly options: { intervalMs: number; log: (line: string) => void; now?: () => Date },
  ) {}

  set(file: string, enabled: boolean, window: string | null): AutoUpdateSetting {
    if (window !== null) parseWindow(window);
    const running = this.db.prepare("SELECT object FROM instances WHERE file = ?").get(file) as
      | { object: string }
      | undefined;
    if (!running) {
      throw new CollectiveError("NOT_RUNNING", `nothing was started from ${file}`, {
        hint: "start it first ('cui start'); automatic updates keep a running appliance up to date",
      });
    }
    this.db
      .prepare(
        `INSERT INTO autoupdate (file, object, enabled, window) VALUES (?, ?, ?, ?)
         ON CONFLICT(file) DO UPDATE SET enabled = excluded.enabled, window = excluded.window`,
      )
      .run(file, running.object, enabled ? 1 : 0, window);
    return this.list().find((s) => s.file === file)!;
  }

  list(): AutoUpdateSetting[] {
    const rows = this.db.prepare("SELECT * FROM autoupdate ORDER BY file").all() as Array<{
      file: string;
      enabled: number;
      window: string | null;
      last_check: string | null;
      last_result: string | null;
    }>;
    return rows.map((r) => ({
      file: r.file,
      enabled: r.enabled === 1,
      window: r.window,
      lastCheck: r.last_check,
      lastResult: r.last_result,
    }));
  }

  start(): void {
    this.timer = setInterval(() => void this.checkAll(), this.options.intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One round: every enabled appliance inside its window. `force` ignores the window (`cui autoupdate now`). */
  checkAll(options: { file?: string; force?: boolean } = {}): Promise<void> {
    // One round at a time: a slow update is not started again by the next tick.
    this.running ??= this.round(options).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(options: { file?: string; force?: boolean }): Promise<void> {
    const now = this.options.now?.() ?? new Date();
    for (const setting of this.list()) {
      if (!setting.enabled || (options.file !== undefined && setting.file !== options.file)) continue;
      if (!options.force && !inWindow(setting.window, now)) continue;
      const progress: Progress = (e) =>
        this.options.log(
          `autoupdate ${setting.file}: ${e.component}: ${e.state}${e.detail ? ` (${e.detail})` : ""}`,
        );
      let result: string;
      try {
        const running = this.db
          .prepare("SELECT 1 FROM instances WHERE file = ? AND desired = 'running'")
          .get(setting.file);
        if (!running) result = "skipped: not running";
        else {
          const update = await this.operations.updates.update(setting.file, undefined, progress, {
            automatic: true,
          });
          const changed = update.actions.filter((a) => a.action !== "none");
          result = update.applied
            ? `updated: ${changed.map((a) => `${a.action} ${a.path || update.appliance}${a.to !== a.from ? ` v${a.from ?? "-"}->v${a.to ?? "-"}` : ""}`).join(", ")}`
            : "up to date";
        }
      } catch (error) {
        result = `failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
      }
      this.options.log(`autoupdate ${setting.file}: ${result}`);
      this.db
        .prepare("UPDATE autoupdate SET last_check = ?, last_result = ? WHERE file = ?")
        .run(now.toISOString(), result, setting.file);
    }
  }
}
