/**
 * The repository's on-disk vocabulary: file names, magic numbers and the JSON shapes of
 * docs/repository-format.md (the normative description; keep the two in step).
 */
export const REPO_FORMAT = "collective-repository";
export const MANIFEST_FORMAT = "collective-manifest";
export const FORMAT_VERSION = 2;

export const paths = {
  descriptor: "repo.json",
  latest: "latest.json",
  feed: "feed.xml",
  manifest: (version: number) => `versions/${version}/manifest.json`,
  signature: (version: number) => `versions/${version}/manifest.sig`,
  versionFile: (version: number, path: string) => `versions/${version}/files/${path}`,
  withdrawal: (version: number) => `withdrawals/${version}.json`,
  withdrawalSignature: (version: number) => `withdrawals/${version}.sig`,
  pack: (id: string) => `packs/${id}.pack`,
  packIndex: (id: string) => `packs/${id}.idx`,
  object: (hash: string) => `objects/${hash}`,
} as const;

/** Size limits for files a reader fetches whole, so a hostile server cannot make us buffer gigabytes. */
export const readLimits = {
  descriptor: 1 << 20,
  manifest: 16 << 20,
  signature: 64 << 10,
  object: 1 << 30,
  packIndex: 1 << 30,
  versionFile: 64 << 20,
} as const;

export type ApplianceKind = "container" | "vm" | "van";

export interface RepoDescriptor {
  readonly format: typeof REPO_FORMAT;
  readonly formatVersion: number;
  readonly id: string;
  readonly created: string;
  readonly keys: readonly string[];
}

export interface LatestPointer {
  readonly version: number;
  readonly updated: string;
}

export interface StoredFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** An OCI image's defaults, kept for the appliance. */
export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
}

export interface TreeDisk {
  readonly name: string;
  readonly shape: "tree";
  readonly size: number;
  readonly entries: number;
  /** Stream index of the tree listing (JSON Lines of TreeEntry). */
  readonly listing: string;
  readonly config?: ImageConfig;
}

export interface BlockDisk {
  readonly name: string;
  readonly shape: "block";
  readonly size: number;
  readonly chunkSize: number;
  /** Stream index of the block map (32-byte hashes, zero = hole). */
  readonly blocks: string;
  readonly format: "raw";
}

export type Disk = TreeDisk | BlockDisk;

export interface MachineSpec {
  memoryMiB?: number;
  cpus?: number;
}

export interface ManifestStats {
  readonly logicalBytes: number;
  readonly chunks: number;
  readonly newChunks: number;
  readonly newBytes: number;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: number;
  readonly repository: string;
  readonly version: number;
  readonly created: string;
  readonly signer: string;
  readonly appliance: { readonly name: string; readonly kind: ApplianceKind; readonly cvl: string };
  readonly files: readonly StoredFile[];
  readonly disks: readonly Disk[];
  readonly machine?: MachineSpec;
  readonly packs: readonly string[];
  readonly stats: ManifestStats;
}

export interface SignatureFile {
  readonly algorithm: "ed25519";
  readonly key: string;
  readonly signature: string;
}

export interface Withdrawal {
  readonly repository: string;
  readonly version: number;
  readonly date: string;
  readonly reason?: string;
}

export type TreeEntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

/** One line of a tree listing. */
export interface TreeEntry {
  path: string;
  type: TreeEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
  size?: number;
  chunks?: string[];
  target?: string;
  link?: string;
  rdev?: [number, number];
  xattrs?: Record<string, string>;
}

export const HEX64 = /^[0-9a-f]{64}$/;

export function isHash(value: unknown): value is string {
  return typeof value === "string" && HEX64.test(value);
}
