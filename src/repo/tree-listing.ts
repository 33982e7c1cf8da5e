/**
 * Parsing a tree listing (docs/repository-format.md, section 3) as a reader must: the stream is verified
 * chunk by chunk, but its content was written by a publisher who may be hostile, so every line is checked
 * for shape, order and safe paths before anything is materialised from it.
 */
import { CollectiveError } from "../errors.js";
import { normalizeEntryPath } from "../fs-safety/entry-path.js";
import { comparePaths } from "./entry-path.js";
import { isHash, type TreeEntry, type TreeEntryType } from "./format.js";

const types = new Set<TreeEntryType>(["file", "dir", "symlink", "hardlink", "char", "block", "fifo"]);

export function parseTreeListing(bytes: Buffer, where: string): TreeEntry[] {
  const text = bytes.toString("utf8");
  if (text.length > 0 && !text.endsWith("\n"))
    throw invalid(where, "the listing does not end with a newline");
  const lines = text.split("\n");
  lines.pop();
  const entries: TreeEntry[] = [];
  let previous: string | undefined;
  lines.forEach((line, i) => {
    const entry = parseLine(line, where, i + 1);
    if (
      i === 0
        ? entry.path !== "." || entry.type !== "dir"
        : previous !== undefined && comparePaths(previous, entry.path) >= 0
    ) {
      throw invalid(
        where,
        i === 0
          ? "the listing does not start with the root directory"
          : `line ${i + 1} (${JSON.stringify(entry.path)}) is out of order or repeated`,
      );
    }
    previous = entry.path;
    entries.push(entry);
  });
  if (entries.length === 0) throw invalid(where, "the listing is empty");
  return entries;
}

function parseLine(line: string, where: string, lineNumber: number): TreeEntry {
  // The place is named only for an error: a string per line cost more than the checks.
  const at = (): string => `${where}, listing line ${lineNumber}`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw invalid(at(), "not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid(at(), "not an object");
  const e = value as Record<string, unknown>;
  const path = e.path;
  if (typeof path !== "string") throw invalid(at(), "no path");
  if (path !== "." && normalizeEntryPath(path, "listing path") !== path)
    throw invalid(at(), `path ${JSON.stringify(path)} is not normalized`);
  if (!types.has(e.type as TreeEntryType)) throw invalid(at(), `unknown type ${JSON.stringify(e.type)}`);
  for (const field of ["mode", "uid", "gid", "mtime", "mtimeNsec"]) {
    if (!Number.isSafeInteger(e[field]) || (e[field] as number) < 0) throw invalid(at(), `bad ${field}`);
  }
  if ((e.mode as number) > 0o7777 || (e.mtimeNsec as number) > 999_999_999)
    throw invalid(at(), "mode or mtimeNsec out of range");
  const entry = e as unknown as TreeEntry;
  switch (entry.type) {
    case "file":
      if (!Number.isSafeInteger(entry.size) || entry.size! < 0)
        throw invalid(at(), "a file without a valid size");
      if (entry.chunks !== undefined && (!Array.isArray(entry.chunks) || !entry.chunks.every(isHash))) {
        throw invalid(at(), "chunks are not a list of SHA-256 hashes");
      }
      if ((entry.chunks?.length ?? 0) === 0 && entry.size! > 0)
        throw invalid(at(), "a non-empty file without chunks");
      break;
    case "symlink":
      if (typeof entry.target !== "string" || entry.target === "" || entry.target.includes("\0")) {
        throw invalid(at(), "a symlink without a valid target");
      }
      break;
    case "hardlink":
      if (typeof entry.link !== "string") throw invalid(at(), "a hard link without a link path");
      normalizeEntryPath(entry.link, "hard link target");
      break;
    case "char":
    case "block":
      if (
        !Array.isArray(entry.rdev) ||
        entry.rdev.length !== 2 ||
        !entry.rdev.every((n) => Number.isSafeInteger(n) && n >= 0)
      ) {
        throw invalid(at(), "a device without [major, minor]");
      }
      break;
    case "dir":
    case "fifo":
      break;
  }
  return entry;
}

function invalid(where: string, why: string): CollectiveError {
  return new CollectiveError("LISTING_INVALID", `invalid tree listing in ${where}: ${why}`, {
    hint: "The repository's publisher wrote a damaged or hostile listing; nothing was materialised.",
  });
}
