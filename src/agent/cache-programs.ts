/**
 * Program trees from repositories, through the host cache: the agent fetches a version's missing chunks,
 * verifies them, and materializes the version once, read-only, shared by every instance that runs it
 * (the overlayfs lower layer). The image's own configuration (entrypoint, cmd, env, working directory,
 * user) comes with it, for appliances whose CVL gives no command.
 */
import { join } from "node:path";
import { materializeInCache } from "../cache/materialize-in-cache.js";
import { CollectiveError } from "../errors.js";
import type { ProgramInfo } from "../manager/machine-request.js";
import type { RepositoryPrograms } from "../manager/programs.js";
import type { ImageConfig, TreeDisk } from "../repo/format.js";
import { openTransport } from "../repo/open-transport.js";
import { RepoReader } from "../repo/repo-reader.js";

function defaultsOf(config: ImageConfig | undefined): ProgramInfo["defaults"] {
  if (!config) return undefined;
  const env: Record<string, string> = {};
  for (const pair of config.env ?? []) {
    const eq = pair.indexOf("=");
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const args = [...(config.entrypoint ?? []), ...(config.cmd ?? [])];
  return {
    ...(args.length > 0 ? { args } : {}),
    ...(Object.keys(env).length > 0 ? { env } : {}),
    ...(config.workingDir ? { workingDir: config.workingDir } : {}),
    ...(config.user ? { user: config.user } : {}),
  };
}

export class CachePrograms implements RepositoryPrograms {
  constructor(private readonly cacheDir: string) {}

  async prepare(repository: string, version: number, image: string): Promise<ProgramInfo> {
    const transport = openTransport(repository);
    const cached = await materializeInCache(transport, { cacheDir: this.cacheDir, version });
    const manifest = cached.pulled?.manifest ?? (await new RepoReader(transport).manifest(version));
    const trees = manifest.disks.filter((d): d is TreeDisk => d.shape === "tree");
    const tree = trees.find((d) => d.name === image) ?? (trees.length === 1 ? trees[0] : undefined);
    if (!tree) {
      throw new CollectiveError(
        "REPO_NO_IMAGE",
        `${repository} version ${version} has no root filesystem named "${image}" (it has ${manifest.disks.map((d) => d.name).join(", ") || "no disks"})`,
      );
    }
    const defaults = defaultsOf(tree.config);
    return {
      // The cache puts a version's only tree at its root, and several trees side by side by name.
      path: trees.length === 1 ? cached.path : join(cached.path, tree.name),
      ...(defaults ? { defaults } : {}),
    };
  }
}
