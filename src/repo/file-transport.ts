/**
 * RepoTransport over a local directory (a plain path or a file:// URL). Same contract as the HTTP
 * transport: paths cannot leave the repository, whole-file reads are capped, ranges beyond the end of a
 * file are errors that name it.
 */
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CollectiveError } from "../errors.js";
import { entryPathSegments } from "../fs-safety/entry-path.js";
import { openRegularFile } from "../fs-safety/regular-file.js";
import { coalesceRanges } from "./range-coalesce.js";
import type { ByteRange, ReadRangesOptions, RepoTransport } from "./transport.js";

const DAMAGED_HINT = "The repository is damaged, or the path does not point at a Collective repository.";

export class FileTransport implements RepoTransport {
  readonly url: string;
  /** Bytes read so far, for transfer statistics. */
  bytesReceived = 0;

  constructor(readonly root: string) {
    this.url = pathToFileURL(root).href;
  }

  async readFile(path: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    return this.withFile(path, async (handle, absolute, size) => {
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        throw new CollectiveError(
          "REPO_FILE_TOO_LARGE",
          `${absolute} is ${size} bytes, more than the ${options.maxBytes} allowed for it`,
          { hint: DAMAGED_HINT },
        );
      }
      const bytes = await handle.readFile();
      this.bytesReceived += bytes.length;
      return bytes;
    });
  }

  async readRanges(
    path: string,
    ranges: readonly ByteRange[],
    options: ReadRangesOptions = {},
  ): Promise<Uint8Array[]> {
    return this.withFile(path, async (handle, absolute) => {
      const results = new Array<Uint8Array>(ranges.length);
      for (const span of coalesceRanges(ranges, { maxGapBytes: 0, maxSpanBytes: 16 * 1024 * 1024 })) {
        const buffer = options.allocate?.(span.length) ?? Buffer.allocUnsafe(span.length);
        const { bytesRead } = await handle.read(buffer, 0, span.length, span.offset);
        if (bytesRead < span.length) {
          throw new CollectiveError(
            "REPO_FILE_SHORT",
            `${absolute} has fewer bytes than the repository's index expects (wanted ${span.offset}-${span.offset + span.length - 1})`,
            { hint: "The repository is damaged; run `cui repo verify` on it." },
          );
        }
        this.bytesReceived += bytesRead;
        for (const member of span.members) {
          results[member.index] = buffer.subarray(
            member.offsetInSpan,
            member.offsetInSpan + ranges[member.index]!.length,
          );
        }
      }
      return results;
    });
  }

  private async withFile<T>(
    path: string,
    use: (handle: FileHandle, absolute: string, size: number) => Promise<T>,
  ): Promise<T> {
    const absolute = join(this.root, ...entryPathSegments(path, "repository file path"));
    let opened: { handle: FileHandle; size: number };
    try {
      // A directory, FIFO or device where the repository has a file is damage, not a missing file.
      opened = await openRegularFile(
        absolute,
        (kind) =>
          new CollectiveError("REPO_FILE_NOT_REGULAR", `${absolute} is ${kind}, not a regular file`, {
            hint: DAMAGED_HINT,
          }),
      );
    } catch (error) {
      if (error instanceof CollectiveError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") {
        throw new CollectiveError("REPO_NOT_FOUND", `${absolute} not found`, {
          hint: "Check the repository path and the version; `cui versions <repo>` lists what exists.",
        });
      }
      throw new CollectiveError(
        "REPO_UNREADABLE",
        `cannot read ${absolute}: ${code ?? (error as Error).message}`,
        {
          hint: "Check the file's permissions.",
        },
      );
    }
    try {
      return await use(opened.handle, absolute, opened.size);
    } finally {
      await opened.handle.close();
    }
  }
}
