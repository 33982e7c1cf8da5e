// Compiles TypeScript to dist/ and copies the non-TypeScript assets the code reads at run time
// (the CVL prelude, for one). Kept as a script so `npm run build` has no shell-specific syntax.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const result = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
  stdio: "inherit",
});
if (result.status !== 0) process.exit(result.status ?? 1);

// Assets: every .cvl, .json and .cjs file under src/ that is not test data (.cjs: worker threads' code,
// run as it is from src/ by the tests and from dist/ by the CLI).
function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name === "testdata") continue;
      copyAssets(path);
    } else if (/\.(cvl|json|cjs)$/.test(name)) {
      const target = join(root, "dist", relative(root, path));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target);
    }
  }
}
copyAssets(join(root, "src"));
