/**
 * Picks the transport for a repository location as users write it: http:// and https:// URLs, file://
 * URLs, and plain paths (relative to the current directory or to a given base, e.g. the importing CVL
 * file's directory).
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CollectiveError } from "../errors.js";
import { FileTransport } from "./file-transport.js";
import { HttpTransport, type HttpTransportOptions } from "./http-transport.js";
import type { RepoTransport } from "./transport.js";

export interface OpenTransportOptions {
  /** Directory that relative paths are resolved against (default: the current directory). */
  readonly baseDir?: string;
  readonly http?: HttpTransportOptions;
}

export function openTransport(
  location: string,
  options: OpenTransportOptions = {},
): RepoTransport & { bytesReceived: number } {
  if (/^https?:\/\//i.test(location)) return new HttpTransport(location, options.http);
  if (/^file:/i.test(location)) {
    let path: string;
    try {
      path = fileURLToPath(location);
    } catch (error) {
      throw badLocation(location, (error as Error).message);
    }
    return new FileTransport(path);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw badLocation(location, `the scheme ${location.split(":")[0]}: is not supported`);
  }
  if (location === "") throw badLocation(location, "it is empty");
  return new FileTransport(
    isAbsolute(location) ? location : resolve(options.baseDir ?? process.cwd(), location),
  );
}

function badLocation(location: string, why: string): CollectiveError {
  return new CollectiveError("REPO_BAD_URL", `cannot open repository ${JSON.stringify(location)}: ${why}`, {
    hint: "Use a path, file:///path, http://host/path or https://host/path.",
  });
}
