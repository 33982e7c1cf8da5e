/**
 * Validation of the relative paths that name entries inside a tree (a manifest's file list, a tar member,
 * a URL path under a served root). A path that passes is safe to join onto a destination directory as
 * text: it cannot climb out of it. Whether the directories on the way are symlinks is a separate question,
 * answered on disk by beneath.ts.
 */
import { CollectiveError } from "../errors.js";

/** Longest entry path we accept; Linux's PATH_MAX, so anything longer could not be created anyway. */
const maxPathBytes = 4096;
/** Longest single name; Linux's NAME_MAX. */
const maxNameBytes = 255;

/**
 * Returns the path's segments after checking that it is relative and stays inside its root: no leading
 * "/", no "..", no NUL, no over-long names. "." segments and repeated or trailing slashes are dropped, so
 * "./a//b/" is ["a", "b"]. The empty path (the root itself) is [].
 */
export function entryPathSegments(
  path: string,
  what = "entry path",
  /** How to refuse (a caller with its own error code and wording); by default an UNSAFE_PATH error. */
  refuse: (why: string) => never = (why) => {
    throw new CollectiveError("UNSAFE_PATH", `unsafe ${what} ${JSON.stringify(path)}: ${why}`, {
      hint: "Entries must be relative paths that stay inside their directory; the input is damaged or hostile.",
    });
  },
): string[] {
  if (path.includes("\0")) refuse("it contains a NUL byte");
  if (Buffer.byteLength(path) > maxPathBytes) refuse(`it is longer than ${maxPathBytes} bytes`);
  if (path.startsWith("/")) refuse("it is absolute");
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") refuse('it contains ".."');
    if (Buffer.byteLength(segment) > maxNameBytes)
      refuse(`a name in it is longer than ${maxNameBytes} bytes`);
    segments.push(segment);
  }
  return segments;
}

/** The normalized form of a safe entry path ("a/b"), or "" for the root. Throws like entryPathSegments. */
export function normalizeEntryPath(path: string, what?: string): string {
  return entryPathSegments(path, what).join("/");
}
