/**
 * VM disks as block images: raw bytes in fixed chunks aligned to filesystem blocks (4 KiB, or the smaller
 * block of an ext filesystem; measured here to dedupe rebuilt ext4 images about twice as well as
 * content-defined chunks), all-zero chunks recorded as holes. qcow2 and vmdk disks are converted to a sparse raw file first with qemu-img (which cannot write
 * raw to a pipe), in the repository's temporary directory.
 */
import { spawn } from "node:child_process";
import type { BigIntStats } from "node:fs";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import type { ChunkStore } from "./chunk-store.js";
import type { BlockDisk } from "./format.js";
import type { ImageQuickCheck, StoredImage } from "./image-quick-check.js";
import { ZERO_HASH } from "./meta-object.js";

export const BLOCK_CHUNK = 4096;
const ZERO_BLOCK = Buffer.alloc(BLOCK_CHUNK);

/**
 * The chunk size for an image: its filesystem's block size when it is an ext2/3/4 filesystem with blocks
 * smaller than 4 KiB (mke2fs picks 1 KiB blocks for small filesystems; file data then moves by 1 KiB steps
 * between rebuilt images, and 4 KiB chunks would not line up), else 4 KiB.
 */
export async function chooseChunkSize(rawPath: string): Promise<number> {
  const handle = await open(rawPath, "r");
  try {
    const superblock = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(superblock, 0, 1024, 1024);
    if (bytesRead === 1024 && superblock.readUInt16LE(56) === 0xef53) {
      const log = superblock.readUInt32LE(24);
      if (log <= 2) return 1024 << log;
    }
    return BLOCK_CHUNK;
  } finally {
    await handle.close();
  }
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT"
          ? new CollectiveError("TOOL_MISSING", `${command} is not installed`, {
              hint: "install the Debian package qemu-utils",
            })
          : error,
      ),
    );
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString("utf8"));
      else
        reject(
          new CollectiveError(
            "DISK_CONVERT_FAILED",
            `${command} failed: ${Buffer.concat(err).toString("utf8").trim()}`,
          ),
        );
    });
  });
}

async function sniffDiskFormat(path: string): Promise<"raw" | "qcow2" | "vmdk"> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(64);
    await handle.read(head, 0, 64, 0);
    if (head.toString("latin1", 0, 4) === "QFI\xfb") return "qcow2";
    if (head.toString("latin1", 0, 4) === "KDMV") return "vmdk";
    if (head.toString("latin1", 0, 21) === "# Disk DescriptorFile") {
      // A descriptor vmdk names extent files anywhere on the host: refuse rather than follow them.
      throw new CollectiveError(
        "UNSUPPORTED_DISK",
        `${path} is a vmdk descriptor that points to separate extent files`,
        {
          hint: "convert it to a single file first: qemu-img convert -O qcow2 disk.vmdk disk.qcow2",
        },
      );
    }
    return "raw";
  } finally {
    await handle.close();
  }
}

/** Returns a raw file for the disk: the file itself, or a converted copy in tempDir. */
async function rawImage(path: string, tempDir: string): Promise<string> {
  const format = await sniffDiskFormat(path);
  if (format === "raw") return path;
  const info = JSON.parse(
    await run("qemu-img", ["info", "--output=json", "-f", format, "--", path]),
  ) as Record<string, unknown>;
  if (info["backing-filename"] !== undefined || info["full-backing-filename"] !== undefined) {
    throw new CollectiveError(
      "UNSUPPORTED_DISK",
      `${path} has a backing file (${String(info["backing-filename"])})`,
      {
        hint: "flatten it first: qemu-img convert -O qcow2 disk.qcow2 flat.qcow2",
      },
    );
  }
  const target = join(tempDir, `disk-${Date.now()}-${Math.random().toString(36).slice(2)}.raw`);
  await run("qemu-img", ["convert", "-f", format, "-O", "raw", "-S", "4k", "--", path, target]);
  return target;
}

export interface BlockInput {
  readonly name: string;
  readonly path: string;
  readonly tempDir: string;
  readonly progress?: (bytes: number) => void;
  /** Unchanged-image detection (the record of the last publish of this path). */
  readonly quick?: ImageQuickCheck;
}

/** Stores a disk as a block image; returns the manifest's disk entry (the map is stored as a stream). */
export async function addBlockImage(input: BlockInput, store: ChunkStore): Promise<BlockDisk> {
  let info: BigIntStats;
  try {
    info = await stat(input.path, { bigint: true });
  } catch (error) {
    throw new CollectiveError(
      "DISK_MISSING",
      `the disk ${input.path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  if (!info.isFile())
    throw new CollectiveError("DISK_MISSING", `the disk ${input.path} is not a regular file`);
  const usage = store.track();
  const known = input.quick?.lookup(info);
  if (known !== undefined && (await store.reuseStored(known.blocks, known.packs, known.chunks))) {
    input.progress?.(Number(info.size));
    input.quick!.record(info, withoutPacks(known), usage.packs);
    const { size, chunkSize, blocks } = known;
    return { name: input.name, shape: "block", size, chunkSize, blocks, format: "raw" };
  }
  const disk = await readBlockImage(input, store);
  const { size, chunkSize, blocks } = disk;
  input.quick?.record(info, { size, chunkSize, blocks, chunks: usage.chunks() }, usage.packs);
  return disk;
}

/**
 * What a record keeps of a stored image besides its packs, field by field: the record read back carries
 * its key too, which must not pass into the next record (it gets the image's key of this publish).
 */
function withoutPacks({ size, chunkSize, blocks, chunks }: StoredImage): Omit<StoredImage, "packs"> {
  return { size, chunkSize, blocks, chunks };
}

/** Reads, hashes and stores every block of the image. */
async function readBlockImage(input: BlockInput, store: ChunkStore): Promise<BlockDisk> {
  const raw = await rawImage(input.path, input.tempDir);
  const size = (await stat(raw)).size;
  const chunkSize = await chooseChunkSize(raw);
  const zeroBlock = ZERO_BLOCK.subarray(0, chunkSize);
  const map = Buffer.alloc(32 * Math.ceil(size / chunkSize));
  let entry = 0;
  let carry = Buffer.alloc(0);
  const take = async (block: Buffer): Promise<void> => {
    const zero =
      block.length === chunkSize
        ? block.equals(zeroBlock)
        : block.equals(zeroBlock.subarray(0, block.length));
    if (zero) ZERO_HASH.copy(map, 32 * entry);
    else await store.putDigestInto(block, map, 32 * entry);
    entry++;
  };
  for await (const piece of createReadStream(raw, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let data = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
    let at = 0;
    for (; at + chunkSize <= data.length; at += chunkSize) await take(data.subarray(at, at + chunkSize));
    carry = Buffer.from(data.subarray(at));
    data = Buffer.alloc(0);
    input.progress?.(piece.length);
  }
  if (carry.length > 0) await take(carry);
  if (entry * 32 !== map.length)
    throw new CollectiveError("DISK_CHANGED", `the disk ${input.path} changed size while it was read`);
  return {
    name: input.name,
    shape: "block",
    size,
    chunkSize,
    blocks: await store.putStream(map),
    format: "raw",
  };
}
