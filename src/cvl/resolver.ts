/**
 * How `import { url => ..., cvl => ..., version => ..., object => ..., key => ... } Name;` finds source text.
 *
 * cvl/ knows nothing of repositories: it asks an ImportResolver. This file has the interface and the
 * resolver for local files; the repository layer (repo/) supplies one for versioned repositories over
 * file:// and http(s)://, and the CLI chains them (first one that `handles` the request wins).
 */
import { stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { readRegularFile } from "../fs-safety/regular-file.js";

/** One import statement's request, with its map's values as plain strings. */
export interface ImportRequest {
  /** The `url` value: a relative path, an absolute path, file://, http://, https://. */
  readonly url: string;
  /** The `cvl` value: the CVL file name inside a repository or directory. */
  readonly cvl?: string | undefined;
  /** The `version` value: a positive integer as a string; absent means latest. */
  readonly version?: string | undefined;
  /** The `object` value: which object of the imported file to bind (extension). */
  readonly object?: string | undefined;
  /** The `key` value: "ed25519:<base64>" pinning the publisher's signing key (extension). */
  readonly key?: string | undefined;
  /** The importing file's `location` (see ResolvedSource): relative urls are resolved against it. */
  readonly importer: string;
}

/** Where an import came from, recorded so `cui update` can look for newer versions later. */
export interface ImportOrigin {
  /** The repository's canonical URL (file:///abs/path or https://...). */
  readonly repository: string;
  /** The version that was resolved (the latest at the time when the import named none). */
  readonly version: number;
  /** Whether the import pinned a version (so updates must not move it). */
  readonly pinned: boolean;
  /** The signer's key, "ed25519:<base64>". */
  readonly signer?: string | undefined;
}

export interface ResolvedSource {
  /**
   * A canonical identity for the file: an absolute path for local files, a URL (with version) for a
   * repository's CVL. Used for import-cycle detection and for resolving the imported file's own imports.
   */
  readonly location: string;
  /** What diagnostics print for this file. */
  readonly displayName: string;
  /** Raw bytes: the loader checks the size limit and UTF-8 itself so every resolver gets the same checks. */
  readonly bytes: Uint8Array;
  readonly origin?: ImportOrigin | undefined;
  /**
   * The object an import binds when it names none: a repository version records the one it was published
   * as (`cui publish --object`), so a file that defines several appliances can still be imported plainly.
   */
  readonly object?: string | undefined;
  /**
   * Set when the import pinned a version its publisher has withdrawn: the notice's reason ("" when it
   * gives none). The file is still returned (a withdrawn version stays readable); the loader warns.
   */
  readonly withdrawn?: string | undefined;
}

/** Thrown by a resolver when an import cannot be satisfied; the message names what was tried and why. */
export class ImportFailure extends Error {
  override readonly name = "ImportFailure";
}

export interface ImportResolver {
  /** Whether this resolver is the one for the request (by scheme or by what is at the path). */
  handles(request: ImportRequest): Promise<boolean>;
  resolve(request: ImportRequest): Promise<ResolvedSource>;
}

/** Tries resolvers in order; the first that handles a request resolves it. */
export class ChainResolver implements ImportResolver {
  constructor(private readonly resolvers: readonly ImportResolver[]) {}

  async handles(request: ImportRequest): Promise<boolean> {
    for (const r of this.resolvers) if (await r.handles(request)) return true;
    return false;
  }

  async resolve(request: ImportRequest): Promise<ResolvedSource> {
    for (const r of this.resolvers) if (await r.handles(request)) return r.resolve(request);
    if (isLocalUrl(request.url) && !isAbsolute(request.url) && !isAbsolute(request.importer)) {
      throw new ImportFailure(
        `"${request.url}" is a relative path, but ${request.importer} came from a repository, and a file from a repository cannot reach files on this machine; import with an absolute URL (https://..., or file:///path for a local repository)`,
      );
    }
    throw new ImportFailure(
      `no resolver understands the url "${request.url}" (expected a path, file://, http:// or https://)`,
    );
  }
}

/** What diagnostics call a local file: relative to the working directory when inside it. */
export function displayNameOf(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

/** True for urls that name a location on this machine (a path or file://). */
export function isLocalUrl(url: string): boolean {
  return url.startsWith("file://") || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url);
}

/**
 * Turns a local import url into an absolute path: file:// URLs as they are, absolute paths as they are,
 * relative paths against the importing file's directory. Returns undefined for non-local urls, and for
 * relative paths when the importer is not itself a local file (a repository's CVL cannot reach into the
 * user's disk).
 */
export function localPathOf(url: string, importer: string): string | undefined {
  if (url.startsWith("file://")) {
    try {
      return fileURLToPath(url);
    } catch (error) {
      const host = URL.canParse(url) ? new URL(url).host : "";
      throw new ImportFailure(
        host === ""
          ? `"${url}" is not a file URL this machine can open (${(error as Error).message})`
          : `"${url}" names the host ${host}, but a file:// URL can only name files on this machine: write file://${new URL(url).pathname} or a path`,
      );
    }
  }
  if (!isLocalUrl(url)) return undefined;
  if (isAbsolute(url)) return url;
  if (!isAbsolute(importer)) return undefined;
  return resolvePath(dirname(importer), url);
}

/**
 * Resolves plain CVL files: a path or file:// URL naming a .cvl file, or a directory holding the file named
 * by `cvl` (or its only .cvl file). A directory that is a repository is left to the repository resolver,
 * which comes first in the chain.
 */
export class LocalFileResolver implements ImportResolver {
  async handles(request: ImportRequest): Promise<boolean> {
    return localPathOf(request.url, request.importer) !== undefined;
  }

  async resolve(request: ImportRequest): Promise<ResolvedSource> {
    const path = localPathOf(request.url, request.importer);
    if (path === undefined) throw new ImportFailure(`"${request.url}" is not a local path`);
    if (request.key !== undefined) {
      throw new ImportFailure(
        `key => "${request.key}" pins a repository's signing key, but ${path} is a plain file with no signature; import it from a repository or drop the key`,
      );
    }
    if (request.version !== undefined) {
      throw new ImportFailure(
        `version => "${request.version}" needs a repository, but ${displayNameOf(path)} is a plain file or directory (create one with 'cui create' and 'cui publish')`,
      );
    }
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch {
      throw new ImportFailure(`${displayNameOf(path)} does not exist`);
    }
    let file = path;
    if (info.isDirectory()) {
      if (request.cvl === undefined) {
        throw new ImportFailure(
          `${displayNameOf(path)} is a directory: say which file with cvl => "NAME.cvl"`,
        );
      }
      if (
        request.cvl.includes("/") ||
        request.cvl.includes("\\") ||
        request.cvl === ".." ||
        request.cvl === "."
      ) {
        throw new ImportFailure(`cvl => "${request.cvl}" must be a file name, without directories`);
      }
      file = join(path, request.cvl);
    }
    let bytes: Uint8Array;
    try {
      bytes = await readRegularFile(
        file,
        (kind) => new ImportFailure(`${displayNameOf(file)} is ${kind}, not a CVL file`),
      );
    } catch (error) {
      if (error instanceof ImportFailure) throw error;
      throw new ImportFailure(
        `cannot read ${displayNameOf(file)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    return { location: file, displayName: displayNameOf(file), bytes };
  }
}
