/** `cui versions`: the versions of a repository with their dates, sizes and signers, each verified. */
import { CollectiveError } from "../errors.js";
import type { RepoReader } from "./repo-reader.js";

export interface VersionInfo {
  readonly version: number;
  readonly date: string;
  readonly kind: string;
  readonly name: string;
  /** Logical size of the program disks. */
  readonly size: number;
  /** Bytes this version added to the repository. */
  readonly newBytes: number;
  readonly signer: string;
  readonly withdrawn: boolean;
  /** Set when the version failed verification; the other fields are then empty. */
  readonly error?: string;
}

export async function listVersions(reader: RepoReader): Promise<VersionInfo[]> {
  await reader.descriptor();
  const latest = await reader.latestVersion();
  const out: VersionInfo[] = [];
  for (let version = 1; version <= latest; version++) {
    try {
      const manifest = await reader.manifest(version);
      out.push({
        version,
        date: manifest.created,
        kind: manifest.appliance.kind,
        name: manifest.appliance.name,
        size: manifest.stats.logicalBytes,
        newBytes: manifest.stats.newBytes,
        signer: manifest.signer,
        withdrawn: await reader.isWithdrawn(version),
      });
    } catch (error) {
      if (!(error instanceof CollectiveError)) throw error;
      out.push({
        version,
        date: "",
        kind: "",
        name: "",
        size: 0,
        newBytes: 0,
        signer: "",
        withdrawn: false,
        error: error.message,
      });
    }
  }
  return out;
}
