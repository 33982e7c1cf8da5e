/**
 * The manager's truth, as SQL. Migrations are append-only: a new version adds statements at the end
 * and never edits an old one, so any state directory can be brought forward.
 */
export const migrations: readonly string[] = [
  // 1: instances, components, allocations, pools, journal
  `
  CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    file        TEXT NOT NULL,
    object      TEXT NOT NULL,
    desired     TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
    evaluation  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (file, object)
  );
  CREATE TABLE components (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('van', 'vm', 'container')),
    state       TEXT NOT NULL,
    desired     TEXT NOT NULL DEFAULT 'running' CHECK (desired IN ('running', 'stopped')),
    machine_id  TEXT,
    -- The agent request that started it (no secrets): what a restart after a crash re-issues.
    request     TEXT,
    host        TEXT,
    repository  TEXT,
    version     INTEGER,
    since       TEXT NOT NULL,
    restarts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (instance_id, path)
  );
  CREATE TABLE pools (
    kind  TEXT NOT NULL CHECK (kind IN ('vni', 'public')),
    spec  TEXT NOT NULL,
    PRIMARY KEY (kind, spec)
  );
  CREATE TABLE networks (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    vni         INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (instance_id, path)
  );
  CREATE TABLE addresses (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    interface   TEXT NOT NULL,
    network     TEXT NOT NULL CHECK (network IN ('van', 'public')),
    vni         INTEGER,
    ip          TEXT NOT NULL,
    mac         TEXT NOT NULL UNIQUE,
    PRIMARY KEY (instance_id, interface, network),
    UNIQUE (network, vni, ip)
  );
  CREATE TABLE hosts (
    id            TEXT PRIMARY KEY,
    memory_mib    INTEGER NOT NULL,
    max_machines  INTEGER NOT NULL
  );
  CREATE TABLE journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    operation   TEXT NOT NULL,
    step        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('begun', 'done', 'failed', 'undone')),
    detail      TEXT NOT NULL DEFAULT '{}',
    at          TEXT NOT NULL
  );
  CREATE INDEX journal_open ON journal (status) WHERE status = 'begun';
  `,
  // 2: updates (paper 5.3): the previous program of each component (rollback), the attic, data disk
  // snapshots, the administrator's blacklist, automatic update settings and the history of every update.
  `
  ALTER TABLE components ADD COLUMN previous_request TEXT;
  ALTER TABLE components ADD COLUMN previous_repository TEXT;
  ALTER TABLE components ADD COLUMN previous_version INTEGER;
  CREATE TABLE attic (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    file        TEXT NOT NULL,
    object      TEXT NOT NULL,
    path        TEXT NOT NULL,
    repository  TEXT,
    version     INTEGER,
    dir         TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
  );
  CREATE TABLE snapshots (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    path        TEXT NOT NULL,
    repository  TEXT,
    version     INTEGER,
    dir         TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
  );
  CREATE INDEX snapshots_by_component ON snapshots (instance_id, path, at);
  CREATE TABLE blacklist (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repository  TEXT NOT NULL,
    versions    TEXT NOT NULL,
    reason      TEXT,
    added_at    TEXT NOT NULL,
    UNIQUE (repository, versions)
  );
  CREATE TABLE autoupdate (
    file        TEXT PRIMARY KEY,
    object      TEXT,
    enabled     INTEGER NOT NULL,
    window      TEXT,
    last_check  TEXT,
    last_result TEXT
  );
  CREATE TABLE history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    file        TEXT NOT NULL,
    action      TEXT NOT NULL,
    path        TEXT,
    from_version INTEGER,
    to_version  INTEGER,
    automatic   INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    at          TEXT NOT NULL
  );
  CREATE INDEX history_by_file ON history (file, id);
  `,
];
