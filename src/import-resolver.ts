/**
 * The import resolver of the CLI and the daemon: versioned repositories first (file://, http(s)://, or a
 * directory that is a repository), then plain local CVL files. It lives outside both cvl/ and repo/ so
 * that cvl/ never depends on repo/.
 */
import { ChainResolver, type ImportResolver, LocalFileResolver } from "./cvl/resolver.js";
import { createRepositoryResolver } from "./repo/resolver.js";

export function importResolver(): ImportResolver {
  return new ChainResolver([createRepositoryResolver(), new LocalFileResolver()]);
}
