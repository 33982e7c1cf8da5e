/**
 * A streaming tar reader (ustar, pax and GNU long names), enough to read rootfs tarballs and image
 * layers without unpacking them. Each entry's body must be consumed (or skipped) before the next entry
 * is read; the reader skips whatever the consumer left.
 */
import { CollectiveError } from "../errors.js";
import { ByteReader } from "./byte-reader.js";

export type TarEntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

export interface TarEntry {
  readonly name: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly mtimeNsec: number;
  readonly size: number;
  readonly linkName: string;
  readonly devMajor: number;
  readonly devMinor: number;
  readonly xattrs: Record<string, string>;
  /** The body, for files; read it before asking for the next entry. */
  readonly body: AsyncIterable<Buffer>;
  /** Offset of the body within the (uncompressed) archive. */
  readonly offset: number;
}

const BLOCK = 512;
const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.toString("utf8", 0, end < 0 ? raw.length : end);
}

function numeric(block: Buffer, offset: number, length: number, what: string, source: string): number {
  const raw = block.subarray(offset, offset + length);
  if ((raw[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian two's complement with the top bit as a marker.
    let value = BigInt(raw[0]! & 0x7f);
    for (let i = 1; i < raw.length; i++) value = (value << 8n) | BigInt(raw[i]!);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(source, `${what} is too large`);
    return Number(value);
  }
  const text = raw
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw bad(source, `${what} field "${text}" is not octal`);
  return Number.parseInt(text, 8);
}

function bad(source: string, what: string): CollectiveError {
  return new CollectiveError("BAD_ARCHIVE", `${source} is not a valid tar archive: ${what}`, {
    hint: "check that the file is a tar (optionally gzip-compressed) archive and is not truncated",
  });
}

/** Whether a 512-byte block is a tar header with a correct checksum. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  const text = block
    .toString("latin1", 148, 156)
    .replace(/[\0 ]+$/, "")
    .trim();
  return /^[0-7]+$/.test(text) && Number.parseInt(text, 8) === sum;
}

function parsePax(data: Buffer, source: string): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number.parseInt(data.toString("latin1", at, space), 10);
    if (!Number.isFinite(length) || length <= 0 || at + length > data.length)
      throw bad(source, "corrupt pax header");
    const record = data.subarray(space + 1, at + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) records.set(record.toString("utf8", 0, eq), record.subarray(eq + 1).toString("binary"));
    at += length;
  }
  return records;
}

function utf8(binary: string): string {
  return Buffer.from(binary, "binary").toString("utf8");
}

/** Parses a tar stream; `source` names it in errors. */
export async function* readTar(input: AsyncIterable<Uint8Array>, source: string): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(input);
  let pax = new Map<string, string>();
  const globalPax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let sawEnd = false;
  try {
    for (;;) {
      const header = await reader.read(BLOCK);
      if (header.length === 0) break;
      if (header.length < BLOCK) throw bad(source, "it ends in the middle of a header");
      if (header.every((b) => b === 0)) {
        sawEnd = true;
        break;
      }
      if (!isTarHeader(header)) throw bad(source, `bad header checksum at byte ${reader.position - BLOCK}`);
      const flag = String.fromCharCode(header[156]!);
      const size = numeric(header, 124, 12, "size", source);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
        if (size > 16 << 20) throw bad(source, `a ${flag} header of ${size} bytes`);
        const data = await reader.read(padded);
        if (data.length < padded) throw bad(source, "it is truncated");
        const body = data.subarray(0, size);
        if (flag === "x") pax = parsePax(body, source);
        else if (flag === "g") for (const [k, v] of parsePax(body, source)) globalPax.set(k, v);
        else if (flag === "L") longName = body.toString("utf8").replace(/\0+$/, "");
        else longLink = body.toString("utf8").replace(/\0+$/, "");
        continue;
      }
      const type = TYPES[flag];
      const records = new Map([...globalPax, ...pax]);
      pax = new Map();
      const ustar = header.toString("latin1", 257, 262) === "ustar";
      const prefix = ustar ? field(header, 345, 155) : "";
      let name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      let linkName = longLink ?? field(header, 157, 100);
      longName = undefined;
      longLink = undefined;
      if (records.has("path")) name = utf8(records.get("path")!);
      if (records.has("linkpath")) linkName = utf8(records.get("linkpath")!);
      if (type === undefined) {
        throw new CollectiveError(
          "BAD_ARCHIVE",
          `${source}: entry "${name}" has tar type '${flag}', which is not supported`,
          {
            hint: "sparse and vendor-specific tar entries cannot be stored; rebuild the archive with plain files",
          },
        );
      }
      if ([...records.keys()].some((k) => k.startsWith("GNU.sparse"))) {
        throw new CollectiveError(
          "BAD_ARCHIVE",
          `${source}: entry "${name}" is a GNU sparse file, which is not supported`,
        );
      }
      const entrySize = records.has("size") ? Number(records.get("size")) : size;
      const bodySize = type === "file" ? entrySize : 0;
      const paddedBody = records.has("size") ? Math.ceil(entrySize / BLOCK) * BLOCK : padded;
      let mtime = numeric(header, 136, 12, "mtime", source);
      let mtimeNsec = 0;
      if (records.has("mtime")) {
        const [secs, frac = ""] = records.get("mtime")!.split(".");
        mtime = Number(secs);
        mtimeNsec = Number(`${frac}000000000`.slice(0, 9));
      }
      const xattrs: Record<string, string> = {};
      for (const [key, value] of records) {
        if (key.startsWith("SCHILY.xattr."))
          xattrs[key.slice(13)] = Buffer.from(value, "binary").toString("base64");
      }
      const start = reader.position;
      let consumed = 0;
      const body = (async function* () {
        for await (const piece of reader.pieces(bodySize - consumed)) {
          consumed += piece.length;
          yield piece;
        }
      })();
      yield {
        name,
        type,
        mode: numeric(header, 100, 8, "mode", source) & 0o7777,
        uid: records.has("uid") ? Number(records.get("uid")) : numeric(header, 108, 8, "uid", source),
        gid: records.has("gid") ? Number(records.get("gid")) : numeric(header, 116, 8, "gid", source),
        mtime,
        mtimeNsec,
        size: bodySize,
        linkName,
        devMajor: type === "char" || type === "block" ? numeric(header, 329, 8, "devmajor", source) : 0,
        devMinor: type === "char" || type === "block" ? numeric(header, 337, 8, "devminor", source) : 0,
        xattrs,
        body,
        offset: start,
      };
      const rest = paddedBody - (reader.position - start);
      if (rest > 0 && (await reader.skip(rest)) < rest) throw bad(source, `it is truncated inside "${name}"`);
      if (consumed < bodySize && reader.position - start < bodySize)
        throw bad(source, `it is truncated inside "${name}"`);
    }
    if (!sawEnd && reader.position === 0) throw bad(source, "it is empty");
  } finally {
    await reader.close();
  }
}
