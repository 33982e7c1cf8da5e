/**
 * Opening the manager's SQLite database: WAL (readers never block the writer, a crash loses no committed
 * transaction), foreign keys on, a busy timeout so two processes wait rather than fail, and migrations
 * applied in one transaction each.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { CollectiveError } from "../errors.js";
import { migrations } from "./schema.js";

export type Db = Database.Database;

export function openDatabase(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: Db;
  try {
    db = new Database(path);
  } catch (error) {
    throw new CollectiveError(
      "STATE_OPEN",
      `cannot open the state database ${path}: ${(error as Error).message}`,
      {
        hint: "check that the state directory exists and is writable (it is /var/lib/collective unless --state-dir says otherwise)",
      },
    );
  }
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > migrations.length) {
    throw new CollectiveError(
      "STATE_VERSION",
      `the state database is at schema version ${current}, newer than this cui understands (${migrations.length})`,
      { hint: "run the newer version of Collective that wrote it" },
    );
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
