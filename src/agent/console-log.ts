/**
 * A machine's console log: one file its process writes (stdout and stderr) through a file descriptor it
 * holds itself, opened O_APPEND. Bounded by copy-and-truncate: when the file passes the limit the agent
 * copies it to `.1` (replacing the previous one) and truncates it; O_APPEND writers simply continue at the
 * new end. At most about twice the limit is kept. A few bytes written between the copy and the truncate
 * can be lost; that is the price of needing no log process per container.
 */
import { constants } from "node:fs";
import { copyFile, type FileHandle, open, stat, truncate } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

export function rotatedPath(path: string): string {
  return `${path}.1`;
}

/** Opens the log for the container to inherit as stdout and stderr. The caller closes its copy. */
export async function openConsoleLog(path: string): Promise<FileHandle> {
  return open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
}

export async function rotateIfLarge(path: string, maxBytes: number): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || info.size <= maxBytes) return false;
  await copyFile(path, rotatedPath(path));
  await truncate(path, 0);
  return true;
}

async function readWhole(path: string): Promise<Buffer> {
  const handle = await open(path, "r").catch(() => undefined);
  if (handle === undefined) return Buffer.alloc(0);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

function lastLines(text: string, count: number): string {
  if (count <= 0) return "";
  const lines = text.split("\n");
  const trailingNewline = text.endsWith("\n");
  if (trailingNewline) lines.pop();
  const kept = lines.slice(-count).join("\n");
  return kept === "" ? "" : trailingNewline ? `${kept}\n` : kept;
}

export interface ReadLogOptions {
  readonly tail?: number;
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
  readonly pollMs?: number;
}

/** The rotated part and the current file, then (following) whatever is appended, surviving rotation. */
export async function* readConsoleLog(path: string, options: ReadLogOptions = {}): AsyncGenerator<string> {
  const current = await readWhole(path);
  const history = Buffer.concat([await readWhole(rotatedPath(path)), current]).toString("utf8");
  const first = options.tail === undefined ? history : lastLines(history, options.tail);
  if (first !== "") yield first;
  if (!options.follow) return;
  let offset = current.length;
  const pollMs = options.pollMs ?? 200;
  while (!options.signal?.aborted) {
    await sleep(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
    if (options.signal?.aborted) return;
    const size = (await stat(path).catch(() => undefined))?.size ?? 0;
    if (size < offset) offset = 0; // truncated by a rotation: start over on the new contents
    if (size === offset) continue;
    const handle = await open(path, "r");
    try {
      const chunk = Buffer.alloc(size - offset);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset);
      offset += bytesRead;
      if (bytesRead > 0) yield chunk.subarray(0, bytesRead).toString("utf8");
    } finally {
      await handle.close();
    }
  }
}
