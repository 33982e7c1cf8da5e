/**
 * Host-side mounts the container driver makes (overlay root, secrets tmpfs, data disks), and the one
 * source of truth for what is mounted: /proc/self/mountinfo, so that a restarted agent sees exactly what
 * an earlier one left and never mounts twice.
 */
import { readFile } from "node:fs/promises";
import { exec } from "../sys/exec.js";

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export async function mountPoints(): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  const points: string[] = [];
  for (const line of text.split("\n")) {
    const field = line.split(" ")[4];
    if (field !== undefined) points.push(unescapeMountPath(field));
  }
  return points;
}

export async function isMounted(path: string): Promise<boolean> {
  return (await mountPoints()).includes(path);
}

/** Mounts below `dir` (itself included), deepest first: the order to unmount them in. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const all = await mountPoints();
  return all
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function mountOverlay(
  lower: string,
  upper: string,
  work: string,
  target: string,
): Promise<void> {
  if (await isMounted(target)) return;
  // Paths were checked free of "," and ":" (container-path.ts checkHostPath), the option separators.
  const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  await exec("mount", ["-t", "overlay", "overlay", "-o", options, target]);
}

export async function mountTmpfs(target: string, options: string): Promise<void> {
  if (await isMounted(target)) return;
  await exec("mount", ["-t", "tmpfs", "tmpfs", "-o", options, target]);
}

/** Unmounts `target` and everything below it; a no-op for what is not mounted. */
export async function unmountTree(target: string): Promise<void> {
  for (const point of await mountsUnder(target)) {
    await exec("umount", [point], { okStatuses: [0, 32] }).catch(async () => {
      // Busy right after runc delete (a lingering reference): detach lazily rather than leak it.
      await exec("umount", ["-l", point]);
    });
  }
}
