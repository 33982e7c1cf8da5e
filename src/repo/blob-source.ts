/**
 * Named members of an image archive or an OCI layout directory, read whole (small JSON) or streamed
 * (layers). Tar members are located once by a scan and then read by byte range from the file.
 */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { normalizeEntryPath } from "./entry-path.js";
import { readTar } from "./tar-reader.js";

export interface BlobSource {
  readonly label: string;
  has(name: string): Promise<boolean>;
  read(name: string, maxBytes?: number): Promise<Buffer>;
  open(name: string): AsyncIterable<Buffer>;
}

function missing(label: string, name: string): CollectiveError {
  return new CollectiveError("BAD_IMAGE", `${label} has no member "${name}"`, {
    hint: "the image archive or OCI layout is incomplete; save it again (docker save, skopeo copy)",
  });
}

export class DirectoryBlobs implements BlobSource {
  constructor(
    private readonly root: string,
    readonly label: string,
  ) {}

  private path(name: string): string {
    return join(this.root, normalizeEntryPath(name, this.label));
  }

  async has(name: string): Promise<boolean> {
    return stat(this.path(name)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async read(name: string, maxBytes = 16 << 20): Promise<Buffer> {
    if (!(await this.has(name))) throw missing(this.label, name);
    const info = await stat(this.path(name));
    if (info.size > maxBytes)
      throw new CollectiveError("BAD_IMAGE", `${this.label}: "${name}" is too large (${info.size} bytes)`);
    return readFile(this.path(name));
  }

  open(name: string): AsyncIterable<Buffer> {
    return createReadStream(this.path(name), { highWaterMark: 1 << 20 });
  }
}

export class TarBlobs implements BlobSource {
  private constructor(
    private readonly file: string,
    private readonly members: Map<string, { offset: number; size: number }>,
    readonly label: string,
  ) {}

  /** Scans the archive's headers. Symlinked members are resolved one level (old docker save uses them). */
  static async scan(file: string, label: string): Promise<TarBlobs> {
    const members = new Map<string, { offset: number; size: number }>();
    const links = new Map<string, string>();
    for await (const entry of readTar(createReadStream(file, { highWaterMark: 1 << 20 }), label)) {
      const name = normalizeEntryPath(entry.name, label);
      if (entry.type === "file") members.set(name, { offset: entry.offset, size: entry.size });
      else if (entry.type === "symlink" || entry.type === "hardlink") links.set(name, entry.linkName);
    }
    for (const [name, target] of links) {
      const base = entry(target, name, label);
      const found = members.get(base);
      if (found !== undefined && !members.has(name)) members.set(name, found);
    }
    return new TarBlobs(file, members, label);
  }

  async has(name: string): Promise<boolean> {
    return this.members.has(normalizeEntryPath(name, this.label));
  }

  private member(name: string): { offset: number; size: number } {
    const found = this.members.get(normalizeEntryPath(name, this.label));
    if (found === undefined) throw missing(this.label, name);
    return found;
  }

  async read(name: string, maxBytes = 16 << 20): Promise<Buffer> {
    const { size } = this.member(name);
    if (size > maxBytes)
      throw new CollectiveError("BAD_IMAGE", `${this.label}: "${name}" is too large (${size} bytes)`);
    const parts: Buffer[] = [];
    for await (const piece of this.open(name)) parts.push(piece);
    return Buffer.concat(parts);
  }

  open(name: string): AsyncIterable<Buffer> {
    const { offset, size } = this.member(name);
    if (size === 0) return (async function* () {})();
    return createReadStream(this.file, { start: offset, end: offset + size - 1, highWaterMark: 1 << 20 });
  }
}

/** Resolves a link target relative to the linking member (docker's "../abc/layer.tar"). */
function entry(target: string, from: string, label: string): string {
  if (target.startsWith("/")) return normalizeEntryPath(target.slice(1), label);
  const dir = from.includes("/") ? from.slice(0, from.lastIndexOf("/")) : "";
  const parts: string[] = dir === "" ? [] : dir.split("/");
  for (const part of target.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return parts.join("/");
}
