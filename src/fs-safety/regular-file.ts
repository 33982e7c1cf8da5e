/**
 * Reading a local file that must be a regular file: a directory, a FIFO or a device named where a file
 * belongs (a repository's files, a key, a descriptor, a CVL file) is refused with what it is, instead of
 * an EISDIR, a read that waits for a writer forever, or one that never ends (/dev/zero).
 */
import { constants, type Stats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";

/** What a file that is not a regular file is, for messages: "a directory", "a FIFO (named pipe)", .... */
export function fileKind(info: Stats): string {
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a FIFO (named pipe)";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isSocket()) return "a socket";
  return "an unknown kind of file";
}

/**
 * Opens a local file for reading and refuses anything but a regular file, without waiting on it. A stat
 * first refuses what is plainly not a file without opening it: opening a device can act on it (a tape
 * rewinds, a modem line hangs up). The open is then non-blocking (a plain open of a FIFO with no writer
 * never returns, and reading a device such as /dev/zero never ends, while its stat size of 0 passes any
 * size cap), and an fstat of the handle itself checks again what gets read, in case the path was swapped
 * between the two. Throws `refuse(kind)` (kind from fileKind) for a directory, FIFO or device; stat and
 * open errors (ENOENT, ENOTDIR, EACCES, ...) are thrown as they are.
 */
export async function openRegularFile(
  path: string,
  refuse: (kind: string) => Error,
): Promise<{ handle: FileHandle; size: number }> {
  const before = await stat(path);
  if (!before.isFile()) throw refuse(fileKind(before));
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let info: Stats;
  try {
    info = await handle.stat();
  } catch (error) {
    await handle.close();
    throw error;
  }
  if (!info.isFile()) {
    await handle.close();
    throw refuse(fileKind(info));
  }
  return { handle, size: info.size };
}

/** Reads a whole local file that must be a regular file (openRegularFile says what happens otherwise). */
export async function readRegularFile(path: string, refuse: (kind: string) => Error): Promise<Buffer> {
  const { handle } = await openRegularFile(path, refuse);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
