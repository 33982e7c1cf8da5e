/**
 * The CVL import resolver for repositories: `import { url => ..., cvl => ..., version => ..., key => ... }`
 * where url is a repository (http(s)://, file://, or a path to a directory holding repo.json). Returns the
 * version's CVL file after verifying the manifest's signature, honouring a pinned key.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import {
  ImportFailure,
  type ImportRequest,
  type ImportResolver,
  localPathOf,
  type ResolvedSource,
} from "../cvl/resolver.js";
import { CollectiveError } from "../errors.js";
import { paths } from "./format.js";
import { parsePublicKey } from "./keys.js";
import { openTransport } from "./open-transport.js";
import { allWithdrawnMessage, RepoReader } from "./repo-reader.js";
import type { RepoTransport } from "./transport.js";

/**
 * How long one import may take to resolve, all its reads together. Each read has its own timeouts
 * (http-transport.ts), but a server that trickles a byte now and then never trips them: without a
 * deadline it holds the import for as long as it likes. An import reads a few small files (repo.json,
 * latest.json, a manifest and its signature, withdrawal notices, the CVL file), so this is generous.
 */
const defaultDeadlineMs = 120_000;

export interface RepositoryResolverOptions {
  readonly deadlineMs?: number;
}

export class RepositoryResolver implements ImportResolver {
  private readonly deadlineMs: number;

  constructor(options: RepositoryResolverOptions = {}) {
    this.deadlineMs = options.deadlineMs ?? defaultDeadlineMs;
  }

  async handles(request: ImportRequest): Promise<boolean> {
    if (/^https?:\/\//i.test(request.url)) return true;
    const path = localPathOf(request.url, request.importer);
    if (path === undefined) return false;
    return stat(join(path, paths.descriptor)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async resolve(request: ImportRequest): Promise<ResolvedSource> {
    const target = /^https?:\/\//i.test(request.url)
      ? request.url
      : localPathOf(request.url, request.importer);
    if (target === undefined) throw new ImportFailure(`"${request.url}" is not a repository location`);
    if (request.key !== undefined) {
      try {
        parsePublicKey(request.key);
      } catch (error) {
        throw new ImportFailure(`key => ${explain(error as CollectiveError)}`);
      }
    }
    let wanted: number | undefined;
    if (request.version !== undefined) {
      if (!/^[1-9][0-9]*$/.test(request.version))
        throw new ImportFailure(`version => "${request.version}" is not a positive whole number`);
      wanted = Number(request.version);
    }
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.deadlineMs);
    timer.unref();
    let transport: (RepoTransport & { close?: () => void }) | undefined;
    let reading: string | undefined;
    try {
      transport = openTransport(target);
      const reader = new RepoReader(withDeadline(transport, deadline.signal, (path) => (reading = path)));
      await reader.descriptor();
      const latest = wanted === undefined ? await reader.newestUsable() : undefined;
      if (latest?.newest === 0)
        throw new ImportFailure(`${reader.url} has no versions yet (publish one with cui publish)`);
      if (latest?.version === 0) {
        throw new ImportFailure(
          `${allWithdrawnMessage(reader.url, latest)}; a withdrawn version does not start: ask its publisher for a new version, or import another repository`,
        );
      }
      const version = wanted ?? latest!.version;
      const manifest = await reader.manifest(version, request.key).catch((error: unknown) => {
        if (latest === undefined || !(error instanceof CollectiveError) || error.code !== "VERSION_NOT_FOUND")
          throw error;
        throw new ImportFailure(
          `${reader.url} has no version ${version} (or its signature is missing), though its ${paths.latest} names it as the newest: the repository is damaged, or its server does not serve it as stored; pin a version that exists with version => "N" (cui versions lists them)`,
        );
      });
      const cvl = request.cvl ?? manifest.appliance.cvl;
      if (!manifest.files.some((f) => f.path === cvl)) {
        throw new ImportFailure(
          `${reader.url} version ${version} has no CVL file "${cvl}" (it has: ${manifest.files.map((f) => f.path).join(", ")})`,
        );
      }
      const withdrawal = wanted !== undefined ? await reader.withdrawal(version) : undefined;
      const bytes = await reader.versionFile(manifest, cvl);
      const location = `${reader.url}/${paths.versionFile(version, cvl)}`;
      return {
        location,
        displayName: location,
        bytes,
        origin: { repository: reader.url, version, pinned: wanted !== undefined, signer: manifest.signer },
        // The version's own CVL file defines the appliance it was published as; another file of it, none.
        ...(cvl === manifest.appliance.cvl ? { object: manifest.appliance.name } : {}),
        // Only a pinned version can be a withdrawn one (the newest usable is not, by definition).
        ...(withdrawal !== undefined ? { withdrawn: withdrawal.reason ?? "" } : {}),
      };
    } catch (error) {
      if (deadline.signal.aborted) {
        const where = transport?.url ?? target;
        throw new ImportFailure(
          `gave up on ${where} after ${this.deadlineMs / 1000} s, still fetching ${where}/${reading ?? ""}: the server answers too slowly, or keeps the connection open without finishing its answer; check the server, or try again later`,
        );
      }
      if (error instanceof CollectiveError) throw new ImportFailure(explain(error));
      throw error;
    } finally {
      clearTimeout(timer);
      transport?.close?.();
    }
  }
}

/** A CollectiveError's message with what to do about it (its hint), as one line for a diagnostic. */
function explain(error: CollectiveError): string {
  return `${error.message}${error.hint ? ` (${error.hint})` : ""}`;
}

/** The transport, with every read given up when `signal` aborts; `reading` learns each file read. */
function withDeadline(
  transport: RepoTransport,
  signal: AbortSignal,
  reading: (path: string) => void,
): RepoTransport {
  const both = (own: AbortSignal | undefined): AbortSignal =>
    own === undefined ? signal : AbortSignal.any([own, signal]);
  return {
    url: transport.url,
    readFile: (path, options) => {
      reading(path);
      return transport.readFile(path, { ...options, signal: both(options?.signal) });
    },
    readRanges: (path, ranges, options) => {
      reading(path);
      return transport.readRanges(path, ranges, { ...options, signal: both(options?.signal) });
    },
  };
}

export function createRepositoryResolver(): ImportResolver {
  return new RepositoryResolver();
}
