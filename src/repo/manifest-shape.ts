/**
 * The JSON shape of a version manifest: format.ts's `Manifest` (docs/repository-format.md, section 5),
 * checked field by field once the manifest's signature has verified. A signature proves who wrote a
 * manifest, not that their cui wrote it right: an older, newer or buggy publisher can sign a manifest
 * whose `disks` is no list or whose sizes are strings, and everything downstream (repo verify, cui
 * versions, pull, the import resolver) trusts the type. Fields this cui does not know are ignored.
 *
 * Problems are described as "manifest field <JSON path> is <what it is>, expected <what it should be>".
 * A manifest is checked in one pass of plain loops; the path of a field is only put together for an error.
 */
import { FORMAT_VERSION, isHash, MANIFEST_FORMAT, type Manifest } from "./format.js";

/** Makes the error thrown for a problem (the caller adds the repository and version). */
export type ManifestInvalid = (what: string, hint: string) => Error;

const MALFORMED_HINT =
  "the version is signed by a key of the repository, but its publisher wrote a manifest this cui cannot read; nothing of it was used";

const NON_EMPTY_STRING = "a non-empty string";
const STRING = "a string";
const SIZE = "a non-negative integer";
const POSITIVE = "a positive integer";
const HASH = "a SHA-256 hash (64 lower-case hex digits)";
const OBJECT = "an object";
const ARRAY = "an array";

/** Throws invalid(...) unless `value` (a parsed manifest.json) has the shape of a Manifest of our format. */
export function checkManifestShape(value: unknown, invalid: ManifestInvalid): asserts value is Manifest {
  if (!isRecord(value)) throw invalid(`manifest.json is ${shown(value)}, not a JSON object`, MALFORMED_HINT);
  if (value.format !== MANIFEST_FORMAT)
    throw invalid(wrong("format", value.format, JSON.stringify(MANIFEST_FORMAT)), MALFORMED_HINT);
  const formatVersion = value.formatVersion;
  if (!isPositive(formatVersion))
    throw invalid(wrong("formatVersion", formatVersion, `the number ${FORMAT_VERSION}`), MALFORMED_HINT);
  if (formatVersion > FORMAT_VERSION) {
    throw invalid(
      `the manifest has format ${formatVersion}, newer than this cui reads (${FORMAT_VERSION})`,
      "upgrade cui to use this version",
    );
  }
  if (formatVersion < FORMAT_VERSION) {
    throw invalid(
      `the manifest has format ${formatVersion}, older than this cui reads (${FORMAT_VERSION})`,
      "publish the appliance again, into a new repository",
    );
  }
  const problem = fieldsProblem(value);
  if (problem !== undefined) throw invalid(problem, MALFORMED_HINT);
}

/** The first field (after format and formatVersion) that is not as Manifest says, or undefined. */
function fieldsProblem(m: Record<string, unknown>): string | undefined {
  if (typeof m.repository !== "string") return wrong("repository", m.repository, STRING);
  if (!isPositive(m.version)) return wrong("version", m.version, POSITIVE);
  if (typeof m.created !== "string" || Number.isNaN(Date.parse(m.created)))
    return wrong("created", m.created, "an ISO 8601 date");
  if (typeof m.signer !== "string") return wrong("signer", m.signer, STRING);

  const appliance = m.appliance;
  if (!isRecord(appliance)) return wrong("appliance", appliance, OBJECT);
  if (!isNonEmptyString(appliance.name)) return wrong("appliance.name", appliance.name, NON_EMPTY_STRING);
  const kind = appliance.kind;
  if (kind !== "container" && kind !== "vm" && kind !== "van")
    return wrong("appliance.kind", kind, '"container", "vm" or "van"');
  if (!isNonEmptyString(appliance.cvl)) return wrong("appliance.cvl", appliance.cvl, NON_EMPTY_STRING);

  const files = m.files;
  if (!Array.isArray(files)) return wrong("files", files, ARRAY);
  for (let i = 0; i < files.length; i++) {
    const file: unknown = files[i];
    if (!isRecord(file)) return wrong(`files[${i}]`, file, OBJECT);
    if (!isNonEmptyString(file.path)) return wrong(`files[${i}].path`, file.path, NON_EMPTY_STRING);
    if (!isSize(file.size)) return wrong(`files[${i}].size`, file.size, SIZE);
    if (!isHash(file.sha256)) return wrong(`files[${i}].sha256`, file.sha256, HASH);
  }

  const disks = m.disks;
  if (!Array.isArray(disks)) return wrong("disks", disks, ARRAY);
  for (let i = 0; i < disks.length; i++) {
    const problem = diskProblem(disks[i], i);
    if (problem !== undefined) return problem;
  }

  const machine = m.machine;
  if (machine !== undefined) {
    if (!isRecord(machine)) return wrong("machine", machine, OBJECT);
    if (machine.memoryMiB !== undefined && !isPositive(machine.memoryMiB))
      return wrong("machine.memoryMiB", machine.memoryMiB, POSITIVE);
    if (machine.cpus !== undefined && !isPositive(machine.cpus))
      return wrong("machine.cpus", machine.cpus, POSITIVE);
  }

  const packs = m.packs;
  if (!Array.isArray(packs)) return wrong("packs", packs, ARRAY);
  for (let i = 0; i < packs.length; i++)
    if (!isHash(packs[i])) return wrong(`packs[${i}]`, packs[i], "a pack id (64 lower-case hex digits)");

  const stats = m.stats;
  if (!isRecord(stats)) return wrong("stats", stats, OBJECT);
  if (!isSize(stats.logicalBytes)) return wrong("stats.logicalBytes", stats.logicalBytes, SIZE);
  if (!isSize(stats.chunks)) return wrong("stats.chunks", stats.chunks, SIZE);
  if (!isSize(stats.newChunks)) return wrong("stats.newChunks", stats.newChunks, SIZE);
  if (!isSize(stats.newBytes)) return wrong("stats.newBytes", stats.newBytes, SIZE);
  return undefined;
}

/** A TreeDisk or a BlockDisk (format.ts). */
function diskProblem(disk: unknown, i: number): string | undefined {
  if (!isRecord(disk)) return wrong(`disks[${i}]`, disk, OBJECT);
  if (!isNonEmptyString(disk.name)) return wrong(`disks[${i}].name`, disk.name, NON_EMPTY_STRING);
  if (!isSize(disk.size)) return wrong(`disks[${i}].size`, disk.size, SIZE);
  if (disk.shape === "tree") {
    if (!isSize(disk.entries)) return wrong(`disks[${i}].entries`, disk.entries, SIZE);
    if (!isHash(disk.listing)) return wrong(`disks[${i}].listing`, disk.listing, HASH);
    return disk.config === undefined ? undefined : configProblem(disk.config, i);
  }
  if (disk.shape === "block") {
    if (!isPositive(disk.chunkSize)) return wrong(`disks[${i}].chunkSize`, disk.chunkSize, POSITIVE);
    if (!isHash(disk.blocks)) return wrong(`disks[${i}].blocks`, disk.blocks, HASH);
    if (disk.format !== "raw") return wrong(`disks[${i}].format`, disk.format, '"raw"');
    return undefined;
  }
  return wrong(`disks[${i}].shape`, disk.shape, '"tree" or "block"');
}

/** A tree disk's ImageConfig (format.ts): every field optional. */
function configProblem(config: unknown, i: number): string | undefined {
  if (!isRecord(config)) return wrong(`disks[${i}].config`, config, OBJECT);
  for (const field of ["entrypoint", "cmd", "env"] as const) {
    const list = config[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return wrong(`disks[${i}].config.${field}`, list, "an array of strings");
    for (let k = 0; k < list.length; k++)
      if (typeof list[k] !== "string") return wrong(`disks[${i}].config.${field}[${k}]`, list[k], STRING);
  }
  if (config.workingDir !== undefined && typeof config.workingDir !== "string")
    return wrong(`disks[${i}].config.workingDir`, config.workingDir, STRING);
  if (config.user !== undefined && typeof config.user !== "string")
    return wrong(`disks[${i}].config.user`, config.user, STRING);
  return undefined;
}

function wrong(path: string, value: unknown, expected: string): string {
  return `manifest field ${path} is ${shown(value)}, expected ${expected}`;
}

/** A value as a message shows it: short, and escaped (JSON) so that no control character reaches a terminal. */
function shown(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value.length <= 70
        ? `the string ${JSON.stringify(value)}`
        : `a string of ${value.length} characters`;
    case "number":
    case "boolean":
      return String(value);
    default:
      return "an object";
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/** A byte count or a count: an integer JavaScript represents exactly, 0 or more. */
export function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isPositive(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}
