/** Whether something is at a path (following symlinks); any error, ENOENT or not, counts as nothing there. */
import { stat } from "node:fs/promises";

export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
