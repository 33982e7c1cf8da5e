/**
 * The import resolver the CLI uses: repositories first (file://, http(s)://, or a directory that is a
 * repository), then plain local CVL files. Kept here so cvl/ never depends on repo/.
 */
import { ChainResolver, type ImportResolver, LocalFileResolver } from "../cvl/resolver.js";

export async function cliResolver(): Promise<ImportResolver> {
  const resolvers: ImportResolver[] = [];
  try {
    const repo = (await import("../repo/resolver.js")) as { createRepositoryResolver?: () => ImportResolver };
    if (repo.createRepositoryResolver) resolvers.push(repo.createRepositoryResolver());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw error;
  }
  resolvers.push(new LocalFileResolver());
  return new ChainResolver(resolvers);
}
