/**
 * For tests of the repository layer: temporary directories removed even on failure, a publisher key, a
 * repository, CVL files, a tiny tar writer for hostile archives, zstd streams from the real encoder, and a
 * tree comparison that looks at what
 * a user would (types, modes, owners, times, contents, link targets, hard links, devices, xattrs).
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fineMarginMs } from "./change-cutoff.js";
import { loadOrCreatePublisherKey } from "./keys.js";
import { publish } from "./publish.js";
import { createRepository } from "./repo-layout.js";

export class TempDirs {
  private readonly dirs: string[] = [];

  make(label = "repo"): string {
    const dir = mkdtempSync(join(tmpdir(), `collective-${label}-`));
    this.dirs.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Waits until what a test just wrote is old enough for a publish's quick-check records to vouch for it
 * (change-cutoff.ts). Without the wait, a republish reads those files again, as it must for files that
 * changed while or just before they were read.
 */
export async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, fineMarginMs + 10));
}

export async function makeRepository(
  base: string,
  name = "repo",
): Promise<{ repo: string; keyPath: string; publicKey: string }> {
  const keyPath = join(base, `${name}.key`);
  const { publicKey } = await loadOrCreatePublisherKey(keyPath);
  const repo = join(base, name);
  await createRepository(repo, publicKey);
  return { repo, keyPath, publicKey };
}

/** A repository in `base` holding `versions` versions of a container appliance of one small file. */
export async function publishedRepository(
  base: string,
  versions: number,
): Promise<{ base: string; repo: string; keyPath: string; cvl: string }> {
  const app = join(base, "app");
  mkdirSync(join(app, "rootfs"), { recursive: true });
  writeFileSync(join(app, "rootfs", "f"), "1");
  const { repo, keyPath } = await makeRepository(base);
  const cvl = containerCvl(app, "rootfs");
  for (let v = 0; v < versions; v++) await publish({ repoDir: repo, cvlPath: cvl, keyPath });
  return { base, repo, keyPath, cvl };
}

/** A self-signed certificate for 127.0.0.1 and its key (openssl), as `<name>.pem` and `<name>.key` in `dir`. */
export function selfSignedCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"];
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  execFileSync(
    "openssl",
    ["req", "-x509", ...ec, "-nodes", "-days", "1", ...subject, "-keyout", key, "-out", cert],
    {
      stdio: "ignore",
    },
  );
  return { cert, key };
}

export function containerCvl(dir: string, image: string, name = "App"): string {
  const path = join(dir, `${name.toLowerCase()}.cvl`);
  writeFileSync(path, `CVL = "0.8";\n${name} extends ContainerAppliance {\n  image = "${image}";\n}\n`);
  return path;
}

export function vmCvl(dir: string, vm: string, datadisks: string[] = [], name = "Vm"): string {
  const path = join(dir, `${name.toLowerCase()}.cvl`);
  const data =
    datadisks.length > 0
      ? `  datadisks = ${datadisks.map((d) => `{ device => "${d}", size => "16" }`).join(", ")};\n`
      : "";
  writeFileSync(path, `CVL = "0.8";\n${name} extends VMAppliance {\n  vm = "${vm}";\n${data}}\n`);
  return path;
}

export interface TarSpec {
  name: string;
  type?: "0" | "1" | "2" | "5" | "3" | "6";
  body?: string | Buffer;
  link?: string;
  mode?: number;
}

/** The zstd command's output: a real encoder's stream, as `docker`/`buildah --compression zstd` write. */
export function zstdCompress(data: Buffer): Buffer {
  return execFileSync("zstd", ["-q", "-c"], { input: data });
}

/** A ustar archive, built byte by byte so tests can write entries no well-behaved tar would. */
export function makeTar(entries: TarSpec[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const header = Buffer.alloc(512);
    header.write(e.name, 0, 100, "utf8");
    header.write(`${(e.mode ?? 0o644).toString(8).padStart(7, "0")}\0`, 100, "latin1");
    header.write("0000000\0", 108, "latin1");
    header.write("0000000\0", 116, "latin1");
    header.write(`${body.length.toString(8).padStart(11, "0")}\0`, 124, "latin1");
    header.write(`${(1700000000).toString(8).padStart(11, "0")}\0`, 136, "latin1");
    header.write(e.type ?? "0", 156, "latin1");
    if (e.link) header.write(e.link, 157, 100, "utf8");
    header.write("ustar\0", 257, "latin1");
    header.write("00", 263, "latin1");
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function xattrsOf(path: string): string {
  const result = spawnSync(
    "getfattr",
    ["--absolute-names", "-h", "-d", "-m", "-", "-e", "base64", "--", path],
    { encoding: "utf8" },
  );
  return result.stdout
    .split("\n")
    .filter((l) => l.includes("="))
    .sort()
    .join(";");
}

/** A description of a tree (one line per path) that two equal trees share; hard links shown as groups. */
export function describeTree(root: string, options: { times?: boolean } = {}): string[] {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (path: string, rel: string): void => {
    const info = lstatSync(path, { bigint: true });
    const mode = (info.mode & 0o7777n).toString(8);
    // Milliseconds: Node sets times as floating-point seconds, so nanoseconds do not survive materialisation.
    const time = options.times === false || info.isSymbolicLink() ? "" : ` t=${info.mtimeNs / 1_000_000n}`;
    let what: string;
    if (info.isDirectory()) what = "dir";
    else if (info.isSymbolicLink()) what = `symlink->${readlinkSync(path)}`;
    else if (info.isFile()) {
      const first = info.nlink > 1n ? inodes.get(Number(info.ino)) : undefined;
      if (info.nlink > 1n && first === undefined) inodes.set(Number(info.ino), rel);
      what =
        first !== undefined
          ? `hardlink=${first}`
          : `file:${readFileSync(path).toString("base64").slice(0, 40)}:${info.size}:${hashOf(path)}`;
    } else if (info.isFIFO()) what = "fifo";
    else if (info.isCharacterDevice()) what = `char:${info.rdev}`;
    else if (info.isBlockDevice()) what = `block:${info.rdev}`;
    else what = "other";
    lines.push(
      `${rel} ${what} m=${mode} o=${info.uid}:${info.gid}${time} x=${info.isSymbolicLink() ? "" : xattrsOf(path)}`,
    );
    if (info.isDirectory())
      for (const name of readdirSync(path).sort())
        walk(join(path, name), rel === "." ? name : `${rel}/${name}`);
  };
  walk(root, ".");
  return lines;
}

function hashOf(path: string): string {
  return spawnSync("sha256sum", [path], { encoding: "utf8" }).stdout.slice(0, 16);
}
