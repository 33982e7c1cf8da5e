/**
 * The administrator's blacklist (paper, 5.3): repository versions the utility refuses to start, update
 * to or roll back to. An entry names a repository the way the utility records it (the resolver's
 * canonical URL: file:///abs/path or https://host/path) and a set of versions. Versions the publisher
 * withdrew (a signed notice in the repository) count as blacklisted too. Components that already run a
 * version blacklisted afterwards are not stopped silently: violations() lists them.
 */
import { realpathSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Evaluation, valueSource } from "../cvl/index.js";
import { CollectiveError } from "../errors.js";
import type { Db } from "../state/database.js";

// ---------- version specs ----------

/** The grammar, quoted in every error about a spec. */
export const VERSION_SPEC_GRAMMAR = "N, N-M (inclusive), <N, <=N, >N, >=N or all (N, M whole numbers from 1)";

export type VersionSpec =
  | { readonly kind: "all" }
  | { readonly kind: "range"; readonly from: number; readonly to: number };

/**
 * Parses a version spec: "7", "3-5", "<4", "<=4", ">2", ">=2", "all". Every form is a range (to may be
 * Infinity); a spec that matches no version ("<1", "5-3") is an error, not an empty entry.
 */
export function parseVersionSpec(text: string): VersionSpec {
  const spec = text.trim();
  const bad = (why: string) =>
    new CollectiveError("BAD_VERSION_SPEC", `"${text}" is not a version spec: ${why}`, {
      hint: `write ${VERSION_SPEC_GRAMMAR}; e.g. 7, 3-5, <=4 or all`,
      exitCode: 2,
    });
  if (spec === "all") return { kind: "all" };
  const number = (digits: string): number => {
    const n = Number(digits);
    if (!/^[0-9]+$/.test(digits) || !Number.isSafeInteger(n)) throw bad(`"${digits}" is not a whole number`);
    return n;
  };
  let m = /^([0-9]+)$/.exec(spec);
  if (m) {
    const n = number(m[1]!);
    if (n < 1) throw bad("versions are numbered from 1");
    return { kind: "range", from: n, to: n };
  }
  m = /^([0-9]+)\s*-\s*([0-9]+)$/.exec(spec);
  if (m) {
    const from = number(m[1]!);
    const to = number(m[2]!);
    if (from < 1) throw bad("versions are numbered from 1");
    if (to < from) throw bad(`the range ends (${to}) before it starts (${from})`);
    return { kind: "range", from, to };
  }
  m = /^(<=|<|>=|>)\s*([0-9]+)$/.exec(spec);
  if (m) {
    const n = number(m[2]!);
    const op = m[1]!;
    const range =
      op === "<"
        ? { from: 1, to: n - 1 }
        : op === "<="
          ? { from: 1, to: n }
          : op === ">"
            ? { from: n + 1, to: Number.POSITIVE_INFINITY }
            : { from: Math.max(1, n), to: Number.POSITIVE_INFINITY };
    if (range.to < range.from) throw bad(`it matches no version (versions are numbered from 1)`);
    return { kind: "range", ...range };
  }
  throw bad(spec === "" ? "it is empty" : "unknown form");
}

/**
 * The spec as stored and shown: without spaces or leading zeros ("3 - 05" is "3-5"), otherwise as the
 * administrator wrote it ("<5" stays "<5").
 */
export function formatVersionSpec(text: string): string {
  parseVersionSpec(text);
  return text.replace(/\s+/g, "").replace(/[0-9]+/g, (digits) => String(Number(digits)));
}

export function specMatches(spec: VersionSpec, version: number): boolean {
  return spec.kind === "all" || (version >= spec.from && version <= spec.to);
}

// ---------- repository identity ----------

/**
 * A repository location in the form the utility records for a running component (the import
 * resolver's URL): http(s) URLs as URL parses them, local repositories as file:///absolute/path with
 * symbolic links resolved when the directory exists; never a trailing slash. Relative paths are taken
 * from `baseDir`, and refused when there is none (the daemon has no useful working directory).
 */
export function normaliseRepository(location: string, baseDir?: string): string {
  const text = location.trim();
  const bad = (why: string) =>
    new CollectiveError("BAD_REPOSITORY", `"${location}" is not a repository location: ${why}`, {
      hint: "name it as cui status --json shows it: a path, file:///path, http://host/path or https://host/path",
      exitCode: 2,
    });
  if (text === "") throw bad("it is empty");
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw bad("it is not a valid URL");
    }
    if (url.search !== "" || url.hash !== "") throw bad("a repository URL has no query or fragment");
    return url.href.replace(/\/+$/, "");
  }
  let path: string;
  if (/^file:/i.test(text)) {
    try {
      path = fileURLToPath(text);
    } catch (error) {
      throw bad((error as Error).message);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw bad(`the scheme ${text.split(":")[0]}: is not supported`);
  } else if (isAbsolute(text)) {
    path = text;
  } else if (baseDir !== undefined) {
    path = resolve(baseDir, text);
  } else {
    throw bad("a relative path needs a base directory; give an absolute path or a URL");
  }
  path = resolve(path);
  try {
    path = realpathSync.native(path);
  } catch {
    // A repository that is gone (or not yet there) is named as written.
  }
  return pathToFileURL(path).href;
}

// ---------- the entries ----------

export interface BlacklistEntry {
  readonly id: number;
  readonly repository: string;
  /** The version spec (see VERSION_SPEC_GRAMMAR). */
  readonly versions: string;
  readonly reason: string | null;
  readonly addedAt: string;
}

interface EntryRow {
  id: number;
  repository: string;
  versions: string;
  reason: string | null;
  added_at: string;
}

const entryOf = (r: EntryRow): BlacklistEntry => ({
  id: r.id,
  repository: r.repository,
  versions: r.versions,
  reason: r.reason,
  addedAt: r.added_at,
});

/** Adds an entry. The repository must be absolute or a URL (normalise relative paths before). */
export function addBlacklistEntry(
  db: Db,
  input: { repository: string; versions: string; reason?: string | undefined },
): BlacklistEntry {
  const repository = normaliseRepository(input.repository);
  const versions = formatVersionSpec(input.versions);
  const reason = input.reason?.trim() || null;
  const existing = db
    .prepare("SELECT * FROM blacklist WHERE repository = ? AND versions = ?")
    .get(repository, versions) as EntryRow | undefined;
  if (existing) {
    throw new CollectiveError(
      "ALREADY_BLACKLISTED",
      `${repository} ${versions} is already blacklisted (entry ${existing.id}${existing.reason ? `: ${existing.reason}` : ""})`,
      { hint: `to change its reason, 'cui blacklist remove ${existing.id}' and add it again` },
    );
  }
  const row = db
    .prepare("INSERT INTO blacklist (repository, versions, reason, added_at) VALUES (?, ?, ?, ?) RETURNING *")
    .get(repository, versions, reason, new Date().toISOString()) as EntryRow;
  return entryOf(row);
}

/** Removes an entry by its id, or by its repository and spec; returns what was removed. */
export function removeBlacklistEntry(
  db: Db,
  which: number | { repository: string; versions: string },
): BlacklistEntry {
  let row: EntryRow | undefined;
  if (typeof which === "number") {
    row = db.prepare("DELETE FROM blacklist WHERE id = ? RETURNING *").get(which) as EntryRow | undefined;
    if (!row) {
      throw new CollectiveError("NOT_FOUND", `there is no blacklist entry ${which}`, {
        hint: "'cui blacklist list' shows the entries and their ids",
      });
    }
    return entryOf(row);
  }
  const repository = normaliseRepository(which.repository);
  const versions = formatVersionSpec(which.versions);
  row = db
    .prepare("DELETE FROM blacklist WHERE repository = ? AND versions = ? RETURNING *")
    .get(repository, versions) as EntryRow | undefined;
  if (!row) {
    const others = listBlacklist(db).filter((e) => e.repository === repository);
    throw new CollectiveError(
      "NOT_FOUND",
      `there is no blacklist entry for ${repository} ${versions}${others.length ? `; its entries are ${others.map((e) => `${e.id} (${e.versions})`).join(", ")}` : ""}`,
      { hint: "'cui blacklist list' shows the entries; remove one by its id or its exact spec" },
    );
  }
  return entryOf(row);
}

export function listBlacklist(db: Db): BlacklistEntry[] {
  return (db.prepare("SELECT * FROM blacklist ORDER BY id").all() as EntryRow[]).map(entryOf);
}

/** The first (oldest) entry that blacklists this version of this repository. */
export function blacklistMatch(db: Db, repository: string, version: number): BlacklistEntry | undefined {
  return matcher(db)(repository, version);
}

/** Matches against the entries as they are now, each spec parsed once. */
function matcher(db: Db): (repository: string, version: number) => BlacklistEntry | undefined {
  const byRepository = new Map<string, Array<{ entry: BlacklistEntry; spec: VersionSpec }>>();
  for (const entry of listBlacklist(db)) {
    let spec: VersionSpec;
    try {
      spec = parseVersionSpec(entry.versions);
    } catch {
      continue; // written by hand into the database; 'cui blacklist list' still shows it
    }
    const list = byRepository.get(entry.repository) ?? [];
    list.push({ entry, spec });
    byRepository.set(entry.repository, list);
  }
  return (repository, version) => {
    if (byRepository.size === 0) return undefined;
    let key: string;
    try {
      key = normaliseRepository(repository);
    } catch {
      return undefined;
    }
    return byRepository.get(key)?.find((e) => specMatches(e.spec, version))?.entry;
  };
}

// ---------- withdrawn versions ----------

/** The versions a repository's publisher withdrew (signed notices), with the publisher's reasons. */
export interface WithdrawnVersions {
  /**
   * Withdrawn versions of the repository (as the utility records it) and their reasons ("" when the
   * notice gives none). With `versions`, only those need to be looked at.
   */
  withdrawn(repository: string, versions?: readonly number[]): Promise<Map<number, string>>;
}

export function withdrawnReason(reason: string): string {
  return reason ? `withdrawn by the publisher: ${reason}` : "withdrawn by the publisher";
}

// ---------- checks ----------

/** A program a start (update, rollback) would run: a machine component and its repository version. */
export interface ProgramOrigin {
  readonly path: string;
  readonly repository: string;
  readonly version: number;
}

/**
 * The repository version of every machine component's program (where its `image`, or a VM's `vm`, was
 * set). Components whose program is a local directory have none and are not listed.
 */
export function programOrigins(evaluation: Evaluation): ProgramOrigin[] {
  const out: ProgramOrigin[] = [];
  for (const component of evaluation.components) {
    if (component.kind === "van") continue;
    const origin = (valueSource(component, "image") ?? valueSource(component, "vm"))?.origin;
    if (origin) out.push({ path: component.path, repository: origin.repository, version: origin.version });
  }
  return out;
}

/** Why a version may not run: the local entry that matches, or the publisher's withdrawal. */
export interface Refusal {
  readonly entry?: BlacklistEntry;
  /** The entry's reason, or "withdrawn by the publisher: ...". */
  readonly reason: string;
}

/** For each target, why it may not run (undefined when it may), looking at each repository once. */
async function refusals(
  db: Db,
  withdrawn: WithdrawnVersions | undefined,
  targets: ReadonlyArray<{ repository: string; version: number }>,
  onWithdrawnError: (repository: string, error: unknown) => void,
): Promise<Array<Refusal | undefined>> {
  const match = matcher(db);
  const result: Array<Refusal | undefined> = targets.map((t) => {
    const entry = match(t.repository, t.version);
    return entry ? { entry, reason: entry.reason ?? "no reason given" } : undefined;
  });
  if (withdrawn) {
    const wanted = new Map<string, Set<number>>();
    targets.forEach((t, i) => {
      if (result[i]) return;
      const versions = wanted.get(t.repository) ?? new Set<number>();
      versions.add(t.version);
      wanted.set(t.repository, versions);
    });
    const notices = new Map<string, Map<number, string>>();
    await Promise.all(
      [...wanted].map(async ([repository, versions]) => {
        try {
          notices.set(repository, await withdrawn.withdrawn(repository, [...versions]));
        } catch (error) {
          onWithdrawnError(repository, error);
        }
      }),
    );
    targets.forEach((t, i) => {
      const reason = notices.get(t.repository)?.get(t.version);
      if (!result[i] && reason !== undefined) result[i] = { reason: withdrawnReason(reason) };
    });
  }
  return result;
}

function explain(target: ProgramOrigin, label: string, refusal: Refusal): string {
  const why = refusal.entry
    ? `blacklisted by entry ${refusal.entry.id} (${refusal.entry.repository} ${refusal.entry.versions}): ${refusal.reason}`
    : refusal.reason;
  return `${label}: ${target.repository} version ${target.version} is ${why}`;
}

/**
 * Refuses (one BLACKLISTED error naming every offender) when a target is blacklisted or withdrawn. A
 * repository whose withdrawals cannot be read fails the check too (REPO_UNREACHABLE): the utility does
 * not start what it could not check, unless `unreadable: "skip"` (an automatic rollback to a cached
 * version while the repository is down), which checks those against the local entries only.
 * `action` completes "refusing to ..." ("start", "update to", "roll back to"); `appliance` is named.
 */
export async function assertAllowed(
  db: Db,
  withdrawn: WithdrawnVersions | undefined,
  targets: readonly ProgramOrigin[],
  options: { action?: string; appliance?: string; unreadable?: "refuse" | "skip" } = {},
): Promise<void> {
  if (targets.length === 0) return;
  const errors: string[] = [];
  const found = await refusals(db, withdrawn, targets, (repository, error) => {
    errors.push(
      `cannot read the withdrawals of ${repository}: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  if (errors.length > 0 && options.unreadable !== "skip") {
    throw new CollectiveError("REPO_UNREACHABLE", errors.join("\n"), {
      hint: "the utility checks that no version it starts was withdrawn; try again when the repository answers",
    });
  }
  const offending = targets.flatMap((t, i) => (found[i] ? [{ target: t, refusal: found[i] }] : []));
  if (offending.length === 0) return;
  const name = (path: string) => path || options.appliance || "(root)";
  const lines = offending.map(({ target, refusal }) => `  ${explain(target, name(target.path), refusal)}`);
  const entries = [...new Set(offending.flatMap(({ refusal }) => (refusal.entry ? [refusal.entry.id] : [])))];
  const withdrawnToo = offending.some(({ refusal }) => !refusal.entry);
  const action = options.action ?? "start";
  throw new CollectiveError(
    "BLACKLISTED",
    `refusing to ${action} ${offending.length === 1 ? "a blacklisted version" : `${offending.length} blacklisted versions`}${options.appliance ? ` in ${options.appliance}` : ""}:\n${lines.join("\n")}`,
    {
      hint: [
        `pin another version in the import (import { url => ..., version => "N" })`,
        entries.length > 0
          ? `or, if the administrator agrees, lift the entry: ${entries.map((id) => `'cui blacklist remove ${id}'`).join(", ")}`
          : "",
        withdrawnToo ? "(a withdrawn version cannot be allowed: its publisher withdrew it)" : "",
      ]
        .filter(Boolean)
        .join(" "),
    },
  );
}

/** A component that should run and runs a blacklisted or withdrawn version. */
export interface Violation {
  readonly file: string;
  readonly instance: string;
  readonly object: string;
  readonly path: string;
  readonly repository: string;
  readonly version: number;
  readonly entry?: BlacklistEntry;
  readonly reason: string;
}

export interface ViolationReport {
  readonly violations: Violation[];
  /** Repositories whose withdrawals could not be read (their components were checked against the list only). */
  readonly unchecked: Array<{ repository: string; error: string }>;
}

/** Every component recorded as desired running whose repository version is blacklisted or withdrawn. */
export async function violations(db: Db, withdrawn: WithdrawnVersions | undefined): Promise<ViolationReport> {
  const rows = db
    .prepare(
      `SELECT i.file, i.id AS instance, i.object, c.path, c.repository, c.version
       FROM components c JOIN instances i ON i.id = c.instance_id
       WHERE c.desired = 'running' AND i.desired = 'running' AND c.kind != 'van'
         AND c.repository IS NOT NULL AND c.version IS NOT NULL
       ORDER BY i.file, i.object, c.path`,
    )
    .all() as Array<Omit<Violation, "entry" | "reason">>;
  const unchecked: ViolationReport["unchecked"] = [];
  const found = await refusals(db, withdrawn, rows, (repository, error) => {
    unchecked.push({ repository, error: error instanceof Error ? error.message : String(error) });
  });
  return {
    violations: rows.flatMap((row, i) => (found[i] ? [{ ...row, ...found[i] }] : [])),
    unchecked,
  };
}
