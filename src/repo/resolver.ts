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
import { RepoReader } from "./repo-reader.js";

export class RepositoryResolver implements ImportResolver {
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
        throw new ImportFailure((error as Error).message);
      }
    }
    let wanted: number | undefined;
    if (request.version !== undefined) {
      if (!/^[1-9][0-9]*$/.test(request.version))
        throw new ImportFailure(`version => "${request.version}" is not a positive whole number`);
      wanted = Number(request.version);
    }
    const transport = openTransport(target);
    try {
      const reader = new RepoReader(transport);
      await reader.descriptor();
      const version = wanted ?? (await latestUsable(reader));
      if (version === 0)
        throw new ImportFailure(`${reader.url} has no versions yet (publish one with cui publish)`);
      const manifest = await reader.manifest(version, request.key);
      const cvl = request.cvl ?? manifest.appliance.cvl;
      if (!manifest.files.some((f) => f.path === cvl)) {
        throw new ImportFailure(
          `${reader.url} version ${version} has no CVL file "${cvl}" (it has: ${manifest.files.map((f) => f.path).join(", ")})`,
        );
      }
      const bytes = await reader.versionFile(manifest, cvl);
      const location = `${reader.url}/${paths.versionFile(version, cvl)}`;
      return {
        location,
        displayName: location,
        bytes,
        origin: { repository: reader.url, version, pinned: wanted !== undefined, signer: manifest.signer },
        // The version's own CVL file defines the appliance it was published as; another file of it, none.
        ...(cvl === manifest.appliance.cvl ? { object: manifest.appliance.name } : {}),
      };
    } catch (error) {
      if (error instanceof CollectiveError) {
        throw new ImportFailure(
          error.code === "KEY_MISMATCH"
            ? error.message
            : `${error.message}${error.hint ? ` (${error.hint})` : ""}`,
        );
      }
      throw error;
    } finally {
      (transport as { close?: () => void }).close?.();
    }
  }
}

/** The newest version that is not withdrawn (0 when there is none). */
async function latestUsable(reader: RepoReader): Promise<number> {
  for (let version = await reader.latestVersion(); version > 0; version--) {
    if (!(await reader.isWithdrawn(version))) return version;
  }
  return 0;
}

export function createRepositoryResolver(): ImportResolver {
  return new RepositoryResolver();
}
