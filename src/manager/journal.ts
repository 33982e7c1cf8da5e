/**
 * The journal: every multi-step operation is written down before it acts, and marked done (or failed)
 * after. A daemon that restarts finds the operations still 'begun' and finishes or undoes them.
 */
import type { Db } from "../state/database.js";

export type Operation = "start" | "stop" | "update" | "rollback";

export interface OpenOperation {
  readonly id: number;
  readonly instanceId: string;
  readonly operation: Operation;
  readonly detail: Record<string, unknown>;
}

export function begin(
  db: Db,
  instanceId: string,
  operation: Operation,
  detail: Record<string, unknown> = {},
): number {
  const result = db
    .prepare(
      "INSERT INTO journal (instance_id, operation, step, status, detail, at) VALUES (?, ?, 'all', 'begun', ?, ?)",
    )
    .run(instanceId, operation, JSON.stringify(detail), new Date().toISOString());
  return Number(result.lastInsertRowid);
}

export function finish(
  db: Db,
  id: number,
  status: "done" | "failed" | "undone",
  detail?: Record<string, unknown>,
): void {
  db.prepare("UPDATE journal SET status = ?, detail = COALESCE(?, detail), at = ? WHERE id = ?").run(
    status,
    detail === undefined ? null : JSON.stringify(detail),
    new Date().toISOString(),
    id,
  );
}

/** Records how far an operation got (its detail), so a restarted daemon knows what to finish or undo. */
export function recordProgress(db: Db, id: number, detail: Record<string, unknown>): void {
  db.prepare("UPDATE journal SET detail = ?, at = ? WHERE id = ?").run(
    JSON.stringify(detail),
    new Date().toISOString(),
    id,
  );
}

export function openOperations(db: Db): OpenOperation[] {
  const rows = db
    .prepare("SELECT id, instance_id, operation, detail FROM journal WHERE status = 'begun' ORDER BY id")
    .all() as Array<{
    id: number;
    instance_id: string;
    operation: Operation;
    detail: string;
  }>;
  return rows.map((r) => ({
    id: r.id,
    instanceId: r.instance_id,
    operation: r.operation,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  }));
}
