/**
 * Stream indexes (objects/<hash>): the chunk hashes of a stored metadata stream, content-addressed by the SHA-256 of
 * the stored file, so a reader verifies one before it parses it.
 */
import { hash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { CollectiveError } from "../errors.js";

export const ObjectType = { streamIndex: 1 } as const;
export type ObjectTypeCode = (typeof ObjectType)[keyof typeof ObjectType];
const MAGIC = "COBJ";
const HEADER = 16;

export function sha256Hex(bytes: Uint8Array): string {
  return hash("sha256", bytes, "hex");
}

/** Encodes a body as an object file; returns the bytes and their name. */
export function encodeObject(type: ObjectTypeCode, body: Uint8Array): { bytes: Buffer; hash: string } {
  const packed = deflateRawSync(body, { level: 6 });
  const compressed = packed.length < body.length;
  const header = Buffer.alloc(HEADER);
  header.write(MAGIC, 0, "latin1");
  header.writeUInt8(1, 4);
  header.writeUInt8(type, 5);
  header.writeUInt8(compressed ? 1 : 0, 6);
  header.writeBigUInt64BE(BigInt(body.length), 8);
  const bytes = Buffer.concat([header, compressed ? packed : body]);
  return { bytes, hash: sha256Hex(bytes) };
}

/** Verifies an object's bytes against its name and type; returns the raw body. */
export function decodeObject(name: string, bytes: Uint8Array, type: ObjectTypeCode): Buffer {
  if (sha256Hex(bytes) !== name) {
    throw new CollectiveError("OBJECT_CORRUPT", `object ${name} does not match its hash`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER || buf.toString("latin1", 0, 4) !== MAGIC || buf.readUInt8(4) !== 1) {
    throw new CollectiveError("OBJECT_CORRUPT", `object ${name} is not a format-1 metadata object`);
  }
  if (buf.readUInt8(5) !== type) {
    throw new CollectiveError(
      "OBJECT_CORRUPT",
      `object ${name} has type ${buf.readUInt8(5)}, expected ${type}`,
    );
  }
  const rawLength = Number(buf.readBigUInt64BE(8));
  const body = buf.subarray(HEADER);
  const raw = buf.readUInt8(6) === 1 ? inflateRawSync(body, { maxOutputLength: rawLength + 1 }) : body;
  if (raw.length !== rawLength) {
    throw new CollectiveError(
      "OBJECT_CORRUPT",
      `object ${name} has ${raw.length} body bytes, expected ${rawLength}`,
    );
  }
  return raw;
}

export const ZERO_HASH = Buffer.alloc(32);

/** Splits a stream index body into its 32-byte hashes (views, not copies). */
export function chunkListEntries(name: string, body: Buffer): Buffer[] {
  if (body.length % 32 !== 0) {
    throw new CollectiveError(
      "OBJECT_CORRUPT",
      `stream index ${name} is ${body.length} bytes, not a multiple of 32`,
    );
  }
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += 32) out.push(body.subarray(at, at + 32));
  return out;
}
