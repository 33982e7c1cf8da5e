/**
 * RepoTransport over a local directory (a plain path or a file:// URL). Same contract as the HTTP
 * transport: paths cannot leave the repository, whole-file reads are capped, ranges beyond the end of a
 * file are errors that name it.
 */
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CollectiveError } from "../errors.js";
import { entryPathSegments } from "../fs-safety/entry-path.js";
import { coalesceRanges } from "./range-coalesce.js";
import type { ByteRange, ReadRangesOptions, RepoTransport } from "./transport.js";

export class FileTransport implements RepoTransport {
  readonly url: string;
  /** Bytes read so far, for transfer statistics. */
  bytesReceived = 0;

  constructor(readonly root: string) {
    this.url = pathToFileURL(root).href;
  }

  async readFile(path: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    return this.withFile(path, async (handle, absolute) => {
      const { size } = await handle.stat();
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        throw new CollectiveError(
          "REPO_FILE_TOO_LARGE",
          `${absolute} is ${size} bytes, more than the ${options.maxBytes} allowed for it`,
          {
            hint: "The repository is damaged, or the path does not point at a Collective repository.",
          },
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
    use: (handle: FileHandle, absolute: string) => Promise<T>,
  ): Promise<T> {
    const absolute = join(this.root, ...entryPathSegments(path, "repository file path"));
    let handle: FileHandle;
    try {
      handle = await open(absolute, "r");
    } catch (error) {
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
      return await use(handle, absolute);
    } finally {
      await handle.close();
    }
  }
}
