/**
 * Whether a container's init process still runs, from /proc alone (no runc call per poll). A pid is
 * identified together with its start time, so a pid reused by another process after a crash is not
 * mistaken for the machine; a zombie counts as gone.
 */
import { readFile } from "node:fs/promises";

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined when there is no such process. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[19];
}

export async function isProcessAlive(
  pid: number | undefined,
  startTime: string | undefined,
): Promise<boolean> {
  if (pid === undefined || pid <= 0) return false;
  const current = await processStartTime(pid);
  return current !== undefined && (startTime === undefined || current === startTime);
}
