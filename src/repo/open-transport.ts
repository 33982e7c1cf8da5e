/**
 * Picks the transport for a repository location as users write it: http:// and https:// URLs, file://
 * URLs, and plain paths (relative to the current directory or to a given base, e.g. the importing CVL
 * file's directory).
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CollectiveError } from "../errors.js";
import { FileTransport } from "./file-transport.js";
import type { HttpTransportOptions } from "./http-transport.js";
import { repositoryBase } from "./http-url.js";
import type { ByteRange, ReadRangesOptions, RepoTransport } from "./transport.js";

export interface OpenTransportOptions {
  /** Directory that relative paths are resolved against (default: the current directory). */
  readonly baseDir?: string;
  readonly http?: HttpTransportOptions;
}

export function openTransport(
  location: string,
  options: OpenTransportOptions = {},
): RepoTransport & { bytesReceived: number } {
  if (/^https?:\/\//i.test(location)) return new DeferredHttpTransport(location, options.http);
  if (/^file:/i.test(location)) {
    let path: string;
    try {
      path = fileURLToPath(location);
    } catch (error) {
      throw badLocation(location, (error as Error).message);
    }
    return new FileTransport(path);
  }
  if (unsupportedScheme(location)) {
    throw badLocation(location, `the scheme ${location.split(":")[0]}: is not supported`);
  }
  if (location === "") throw badLocation(location, "it is empty");
  return new FileTransport(
    isAbsolute(location) ? location : resolve(options.baseDir ?? process.cwd(), location),
  );
}

/**
 * Whether `location` is a URL of a scheme cui cannot read: any "scheme://", and the common schemes
 * without "//" (mailto:, data:), which would otherwise be taken for relative paths.
 */
export function unsupportedScheme(location: string): boolean {
  if (/^(https?|file):/i.test(location)) return false;
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ||
    /^(mailto|data|javascript|tel|urn|ftp|sftp|ssh|git|s3):/i.test(location)
  );
}

function badLocation(location: string, why: string): CollectiveError {
  return new CollectiveError("REPO_BAD_URL", `cannot open repository ${JSON.stringify(location)}: ${why}`, {
    hint: "Use a path, file:///path, http://host/path or https://host/path.",
  });
}

/**
 * An http(s) repository whose HTTP client is loaded at the first read: node:net and node:tls took 20-30
 * ms to load, and most commands that name repositories (a publish resolving a CVL file's imports from
 * local paths) never read one over HTTP. The URL is checked at once, as HttpTransport checks it.
 */
class DeferredHttpTransport implements RepoTransport {
  readonly url: string;
  private loading: Promise<RepoTransport & { bytesReceived: number }> | undefined;
  private loaded: (RepoTransport & { bytesReceived: number }) | undefined;

  constructor(
    private readonly location: string,
    private readonly options: HttpTransportOptions | undefined,
  ) {
    this.url = repositoryBase(location).href.replace(/\/$/, "");
  }

  get bytesReceived(): number {
    return this.loaded?.bytesReceived ?? 0;
  }

  async readFile(path: string, options?: { maxBytes?: number; signal?: AbortSignal }): Promise<Buffer> {
    return (await this.transport()).readFile(path, options);
  }

  async readRanges(
    path: string,
    ranges: readonly ByteRange[],
    options?: ReadRangesOptions,
  ): Promise<Uint8Array[]> {
    return (await this.transport()).readRanges(path, ranges, options);
  }

  private transport(): Promise<RepoTransport & { bytesReceived: number }> {
    this.loading ??= import("./http-transport.js").then(({ HttpTransport }) => {
      this.loaded = new HttpTransport(this.location, this.options);
      return this.loaded;
    });
    return this.loading;
  }
}
