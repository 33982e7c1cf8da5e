import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmod,
  chown,
  lchown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileTransport } from "../repo/file-transport.js";
import { type Manifest, paths } from "../repo/format.js";
import { HttpTransport } from "../repo/http-transport.js";
import { type RepoServer, startRepoServer } from "../repo/serve.js";
import { pullVersion } from "./pull.js";
import { makeTestRepo, type TestRepo } from "./test-repo.js";

let scratch: string;
let repo: TestRepo;
let sources: string;
let cacheDir: string;
let server: RepoServer | undefined;

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-pull-"));
  repo = await makeTestRepo(scratch);
  sources = join(scratch, "sources");
  cacheDir = join(scratch, "cache");
});

afterEach(async () => {
  await server?.close(100);
  server = undefined;
  await rm(scratch, { recursive: true, force: true });
});

/** A raw image of `blocks` 4 KiB blocks: random data where `data(i)`, zeros elsewhere. */
async function makeImage(
  name: string,
  blocks: number,
  data: (i: number) => boolean,
  seed: Buffer,
): Promise<string> {
  const path = join(sources, name);
  const image = Buffer.alloc(blocks * 4096);
  for (let i = 0; i < blocks; i++)
    if (data(i))
      seed.copy(
        image,
        i * 4096,
        (i * 4096) % (seed.length - 4096),
        ((i * 4096) % (seed.length - 4096)) + 4096,
      );
  await writeFile(path, image);
  return path;
}

async function makeRootfs(): Promise<string> {
  const rootfs = join(sources, "rootfs");
  await mkdir(join(rootfs, "etc"), { recursive: true });
  await mkdir(join(rootfs, "usr/bin"), { recursive: true });
  await writeFile(join(rootfs, "etc/hostname"), "web\n");
  await writeFile(join(rootfs, "usr/bin/tool"), randomBytes(300_000), { mode: 0o755 });
  await writeFile(join(rootfs, "empty"), "");
  await symlink("tool", join(rootfs, "usr/bin/alias"));
  return rootfs;
}

describe("pulling a tree", () => {
  it("materializes contents, modes and symlinks", async () => {
    const rootfs = await makeRootfs();
    const version = await repo.publishTree(rootfs);
    const dest = join(scratch, "out");
    const result = await pullVersion(new FileTransport(repo.dir), dest, { cacheDir });
    expect(result.version).toBe(version);
    expect(await readFile(join(dest, "etc/hostname"), "utf8")).toBe("web\n");
    expect(
      (await readFile(join(dest, "usr/bin/tool"))).equals(await readFile(join(rootfs, "usr/bin/tool"))),
    ).toBe(true);
    expect((await stat(join(dest, "usr/bin/tool"))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(dest, "usr/bin/alias"))).toBe("tool");
    expect((await stat(join(dest, "empty"))).size).toBe(0);
    expect(result.transfer.fetchedChunks).toBeGreaterThan(0);
  });

  it("writes a tree of several read windows equal to its source: big files across windows, repeated contents, hard links", async () => {
    // 21 MiB: more than two of the writer's 8 MiB windows, which are read into the same memory in turn.
    const rootfs = join(sources, "many");
    const expected = new Map<string, Buffer>();
    const seed = randomBytes(1 << 20);
    for (let i = 0; i < 240; i++) {
      const size = 1000 + ((i * 7919) % 60_000);
      // Every fifth file repeats an earlier one's bytes: its chunks come from frames fetched before.
      const bytes = i % 5 === 4 ? expected.get(`d${(i - 4) % 9}/f${i - 4}`)! : randomBytes(size);
      expected.set(`d${i % 9}/f${i}`, bytes);
    }
    expected.set("big/one", Buffer.concat(Array.from({ length: 6 }, () => randomBytes(1 << 20))));
    expected.set("big/two", Buffer.concat([randomBytes(5 << 20), seed, randomBytes(3 << 20), seed]));
    for (const [path, bytes] of expected) {
      await mkdir(join(rootfs, path, ".."), { recursive: true });
      await writeFile(join(rootfs, path), bytes);
    }
    // Hard links: the writer writes the files before each one, and then goes on with the next windows.
    await mkdir(join(rootfs, "hard"));
    await link(join(rootfs, "big/one"), join(rootfs, "hard/one"));
    await link(join(rootfs, "d0/f0"), join(rootfs, "hard/two"));
    await repo.publishTree(rootfs);
    const dest = join(scratch, "out");
    await pullVersion(new FileTransport(repo.dir), dest, { cacheDir });
    for (const [path, bytes] of expected) {
      expect((await readFile(join(dest, path))).equals(bytes), path).toBe(true);
    }
    expect((await stat(join(dest, "hard/one"))).ino).toBe((await stat(join(dest, "big/one"))).ino);
    expect((await stat(join(dest, "hard/two"))).ino).toBe((await stat(join(dest, "d0/f0"))).ino);
  });

  it.runIf(process.getuid?.() === 0)(
    "gives every entry its recorded owner, also under a setgid directory of another group",
    async () => {
      const rootfs = await makeRootfs(); // root's, as the test runs as root
      await chown(join(rootfs, "etc/hostname"), 1234, 5678);
      await lchown(join(rootfs, "usr/bin/alias"), 1234, 0);
      await mkdir(join(rootfs, "var/mail"), { recursive: true });
      await chown(join(rootfs, "var/mail"), 0, 8);
      await chmod(join(rootfs, "var/mail"), 0o2775); // setgid in the tree: set after what is inside it
      await writeFile(join(rootfs, "var/mail/root"), "");
      await repo.publishTree(rootfs);
      // New entries under a setgid directory take its group (4321), not the process's (0).
      const parent = join(scratch, "setgid");
      await mkdir(parent);
      await chown(parent, 0, 4321);
      await chmod(parent, 0o2775);
      const owners = async (root: string): Promise<string[]> => {
        const out: string[] = [];
        for (const path of [
          ".",
          "etc",
          "etc/hostname",
          "usr/bin/tool",
          "usr/bin/alias",
          "var/mail",
          "var/mail/root",
          "empty",
        ]) {
          const info = await lstat(join(root, path));
          out.push(`${path} ${info.uid}:${info.gid} ${(info.mode & 0o7777).toString(8)}`);
        }
        return out;
      };
      const expected = await owners(rootfs);
      for (const dest of [join(parent, "out"), join(scratch, "plain")]) {
        await pullVersion(new FileTransport(repo.dir), dest, { cacheDir });
        expect(await owners(dest), dest).toEqual(expected);
      }
    },
  );

  it("makes the cache's shared copies read-only when asked", async () => {
    await repo.publishTree(await makeRootfs());
    const dest = join(scratch, "shared");
    await pullVersion(new FileTransport(repo.dir), dest, { cacheDir, readOnly: true });
    expect((await stat(join(dest, "etc/hostname"))).mode & 0o222).toBe(0);
    expect((await stat(join(dest, "etc"))).mode & 0o222).toBe(0);
  });

  it("refuses to write into a destination that holds anything", async () => {
    await repo.publishTree(await makeRootfs());
    const dest = join(scratch, "busy");
    await mkdir(dest);
    await writeFile(join(dest, "precious"), "keep");
    await expect(pullVersion(new FileTransport(repo.dir), dest, { cacheDir })).rejects.toThrow(
      /cannot pull into .*busy: it exists and is not an empty directory/,
    );
    expect(await readFile(join(dest, "precious"), "utf8")).toBe("keep");
  });

  it.each([
    ["an empty directory", "empty-dir"],
    ["nothing", "nowhere"],
  ])(
    "refuses a destination that is a symlink to %s, naming the link and its target",
    async (_what, target) => {
      await repo.publishTree(await makeRootfs());
      await mkdir(join(scratch, "empty-dir"));
      const dest = join(scratch, "link");
      await symlink(target, dest);
      await expect(pullVersion(new FileTransport(repo.dir), dest, { cacheDir })).rejects.toMatchObject({
        code: "PULL_DEST",
        message: `cannot pull into ${dest}: it is a symlink (to ${target})`,
      });
      expect(await readlink(dest)).toBe(target);
      expect(await readdir(join(scratch, "empty-dir"))).toEqual([]);
    },
  );
});

describe("pulling a block image over HTTP", () => {
  it("writes an image whose block map arrives in several runs (planned as it comes) equal to its source", async () => {
    // 48,000 blocks, data every 97: a block map of 1.5 MB of distinct chunks, more than one run of frames.
    const path = join(sources, "wide.img");
    const handle = await open(path, "w");
    const blocks = 48_000;
    for (let i = 7; i < blocks; i += 97) await handle.write(randomBytes(4096), 0, 4096, i * 4096);
    await handle.truncate(blocks * 4096);
    await handle.close();
    await repo.publishImage(path);
    const pulled = await pullVersion(new FileTransport(repo.dir), join(scratch, "wide"), { cacheDir });
    expect(pulled.transfer.fetchedChunks).toBeGreaterThan(0);
    expect((await readFile(pulled.disks[0]!.path)).equals(await readFile(path))).toBe(true);
  });

  it("writes a sparse image equal to the source and fetches only new chunks for the next version", async () => {
    const seed = randomBytes(1 << 20);
    const v1Image = await makeImage("v1.img", 2048, (i) => i % 4 !== 3, seed);
    const v2Image = await makeImage(
      "v2.img",
      2048,
      (i) => i % 4 !== 3,
      Buffer.concat([seed.subarray(0, 900_000), randomBytes(seed.length - 900_000)]),
    );
    await repo.publishImage(v1Image);
    await repo.publishImage(v2Image);
    server = await startRepoServer({ root: scratch, host: "127.0.0.1", port: 0 });
    const transport = new HttpTransport(`${server.url}/repo`);
    const first = await pullVersion(transport, join(scratch, "p1"), { cacheDir, version: 1 });
    const image1 = join(scratch, "p1", "virtio0.img");
    expect(first.disks).toEqual([{ name: "virtio0", shape: "block", size: 2048 * 4096, path: image1 }]);
    expect(first.files.map((f) => f.slice(scratch.length))).toEqual(["/p1/v1.cvl", "/p1/vm1.json"]);
    expect(await readFile(join(scratch, "p1", "v1.cvl"), "utf8")).toContain("extends VMAppliance");
    expect((await readFile(image1)).equals(await readFile(v1Image))).toBe(true);
    const allocated = (await stat(image1)).blocks * 512;
    expect(allocated).toBeLessThan(2048 * 4096 * 0.8); // the zero blocks are holes
    const before = transport.bytesReceived;
    const second = await pullVersion(transport, join(scratch, "p2"), { cacheDir });
    transport.close();
    expect(second.version).toBe(2);
    expect((await readFile(join(scratch, "p2", "virtio0.img"))).equals(await readFile(v2Image))).toBe(true);
    expect(second.transfer.reusedChunks).toBeGreaterThan(0);
    // v2 changed about 14% of the data blocks: far less than the whole image crosses the wire.
    expect(transport.bytesReceived - before).toBeLessThan(first.transfer.fetchedBytes * 0.3);
  });
});

describe.each([
  ["with O_DIRECT where the filesystem has it", "1"],
  ["buffered", "0"],
])("pulling an image %s", (_, setting) => {
  beforeEach(() => {
    process.env.COLLECTIVE_DIRECT_IO = setting;
  });
  afterEach(() => {
    delete process.env.COLLECTIVE_DIRECT_IO;
  });

  it("writes an image whose size is not a multiple of the block equal to its source, cold and from the cache", async () => {
    const seed = randomBytes(1 << 20);
    const path = await makeImage("odd.img", 700, (i) => i % 5 !== 0, seed);
    // 700 blocks and 1,000 bytes: a partial last chunk, and chunks across many frames of the cache.
    await writeFile(path, Buffer.concat([await readFile(path), randomBytes(1000)]));
    await repo.publishImage(path);
    const transport = new FileTransport(join(scratch, "repo"));
    const cold = await pullVersion(transport, join(scratch, "cold"), { cacheDir, version: 1 });
    // A cache from before frames were aligned kept them in .raw/.have files: removed, not misread.
    const packs = join(cacheDir, "packs");
    const id = (await readdir(packs)).find((name) => name.endsWith(".frames"))!.slice(0, -".frames".length);
    await writeFile(join(packs, `${id}.raw`), "stale");
    await writeFile(join(packs, `${id}.have`), "stale");
    const warm = await pullVersion(transport, join(scratch, "warm"), { cacheDir, version: 1 });
    expect(warm.transfer.fetchedChunks).toBe(0);
    expect((await readdir(packs)).filter((name) => /\.(raw|have)$/.test(name))).toEqual([]);
    for (const pulled of [cold, warm]) {
      const image = pulled.disks[0]!.path;
      expect((await stat(image)).size).toBe(700 * 4096 + 1000);
      expect((await readFile(image)).equals(await readFile(path))).toBe(true);
    }
  });
  it("writes an image whose frames are compressed and stored raw by turns equal to its source, cold and from the cache", async () => {
    // Runs of text-like blocks (their frames are compressed and decoded in place) between runs of
    // random ones (stored raw, copied in): the cache and the image get both kinds in one run of frames.
    // 20 MiB of random blocks: more than two batches of downloads, which are decoded side by side.
    const path = join(sources, "mixed.img");
    const blocks = 10_000;
    const image = Buffer.alloc(blocks * 4096);
    const noise = randomBytes(blocks * 4096);
    for (let i = 0; i < blocks; i++) {
      const block = image.subarray(i * 4096, (i + 1) * 4096);
      if (Math.floor(i / 24) % 2 === 0) block.fill(`block ${i} of a text-like image; `);
      else noise.copy(block, 0, i * 4096, (i + 1) * 4096);
    }
    await writeFile(path, image);
    await repo.publishImage(path);
    const transport = new FileTransport(join(scratch, "repo"));
    const cold = await pullVersion(transport, join(scratch, "cold"), { cacheDir, version: 1 });
    const warm = await pullVersion(transport, join(scratch, "warm"), { cacheDir, version: 1 });
    expect(cold.transfer.fetchedChunks).toBeGreaterThan(0);
    expect(warm.transfer.fetchedChunks).toBe(0);
    for (const pulled of [cold, warm])
      expect((await readFile(pulled.disks[0]!.path)).equals(image)).toBe(true);
  });
});

describe("what a pull refuses", () => {
  it("names the repository, version and chunk of a corrupt chunk, and keeps it out of cache and dest", async () => {
    await repo.publishTree(await makeRootfs());
    const packs = (await readdir(join(repo.dir, "packs"))).filter((n) => n.endsWith(".pack"));
    for (const pack of packs) {
      const handle = await open(join(repo.dir, "packs", pack), "r+");
      const { size } = await handle.stat();
      await handle.write(Buffer.from("XXXXXXXX"), 0, 8, Math.floor(size / 2));
      await handle.close();
    }
    const dest = join(scratch, "out");
    const error = await pullVersion(new FileTransport(repo.dir), dest, { cacheDir }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "CHUNK_CORRUPT" });
    expect(String((error as Error).message)).toMatch(
      new RegExp(
        `^file://${repo.dir} version 1: chunk [0-9a-f]{64} \\(pack [0-9a-f]{64}\\) (is corrupt|does not match its hash).* at offset \\d+$`,
      ),
    );
    await expect(lstat(dest)).rejects.toMatchObject({ code: "ENOENT" });
    expect((await readdir(scratch)).filter((n) => n.includes("partial"))).toEqual([]);
  });

  it("refuses a forged manifest", async () => {
    await repo.publishTree(await makeRootfs());
    const manifestPath = join(repo.dir, paths.manifest(1));
    await writeFile(
      manifestPath,
      (await readFile(manifestPath, "utf8")).replace('"name": "Web"', '"name": "Evil"'),
    );
    const dest = join(scratch, "out");
    await expect(pullVersion(new FileTransport(repo.dir), dest, { cacheDir })).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
      message: expect.stringMatching(/version 1: the manifest signature does not verify/),
    });
    await expect(lstat(dest)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("fails, naming the file, when the cache cannot keep a pack index, and records no frame of it", async () => {
    await repo.publishTree(await makeRootfs());
    const [pack] = (await readdir(join(repo.dir, "packs"))).filter((n) => n.endsWith(".idx"));
    // A directory where the index's copy goes: the copy is written while the pull goes on, and fails.
    await mkdir(join(cacheDir, "packs", pack!, "in-the-way"), { recursive: true });
    const dest = join(scratch, "out");
    await expect(pullVersion(new FileTransport(repo.dir), dest, { cacheDir })).rejects.toMatchObject({
      code: "CACHE_DIR",
      message: expect.stringContaining(
        `cannot keep pack index ${pack!.slice(0, -4)} in the cache (${join(cacheDir, "packs", pack!)})`,
      ),
    });
    await expect(lstat(dest)).rejects.toMatchObject({ code: "ENOENT" });
    const cached = await readdir(join(cacheDir, "packs"));
    expect(cached.filter((n) => n.endsWith(".present"))).toEqual([]);
  });

  it("names the repository and version of a corrupt block map index, and caches nothing of it", async () => {
    await repo.publishImage(await makeImage("small.img", 64, (i) => i % 2 === 0, randomBytes(1 << 16)));
    const manifest = JSON.parse(await readFile(join(repo.dir, paths.manifest(1)), "utf8")) as Manifest;
    const blocks = (manifest.disks[0] as { blocks: string }).blocks;
    const object = join(repo.dir, paths.object(blocks));
    const bytes = await readFile(object);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(object, bytes);
    const dest = join(scratch, "out");
    await expect(pullVersion(new FileTransport(repo.dir), dest, { cacheDir })).rejects.toMatchObject({
      code: "OBJECT_CORRUPT",
      message: expect.stringMatching(new RegExp(`${blocks}.*\\(in file://${repo.dir} version 1\\)$`)),
    });
    await expect(lstat(dest)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(lstat(join(cacheDir, "objects", blocks))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("fails, naming the file, when the cache cannot keep a block map index, and leaves nothing behind", async () => {
    await repo.publishImage(await makeImage("small.img", 64, (i) => i % 2 === 0, randomBytes(1 << 16)));
    const manifest = JSON.parse(await readFile(join(repo.dir, paths.manifest(1)), "utf8")) as Manifest;
    const blocks = (manifest.disks[0] as { blocks: string }).blocks;
    // A directory where the index's copy goes: the copy is written while the pull goes on, and fails.
    await mkdir(join(cacheDir, "objects", blocks, "in-the-way"), { recursive: true });
    const dest = join(scratch, "out");
    await expect(pullVersion(new FileTransport(repo.dir), dest, { cacheDir })).rejects.toMatchObject({
      code: "CACHE_DIR",
      message: expect.stringContaining(
        `cannot keep stream index ${blocks} in the cache (${join(cacheDir, "objects", blocks)})`,
      ),
    });
    await expect(lstat(dest)).rejects.toMatchObject({ code: "ENOENT" });
    expect((await readdir(scratch)).filter((n) => n.includes("partial"))).toEqual([]);
    expect((await readdir(join(cacheDir, "objects"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("resumes an interrupted pull without fetching again what it had", async () => {
    const seed = randomBytes(8 << 20);
    await repo.publishImage(await makeImage("big.img", 8192, () => true, seed));
    const transport = new FileTransport(repo.dir);
    const controller = new AbortController();
    const interrupted = await pullVersion(transport, join(scratch, "a"), {
      cacheDir,
      signal: controller.signal,
      onProgress: (done, total) => {
        if (total > 0 && done > total / 2) controller.abort(new Error("cable pulled"));
      },
    }).catch((e: unknown) => e);
    expect(String(interrupted)).toMatch(/cable pulled/);
    await expect(lstat(join(scratch, "a"))).rejects.toMatchObject({ code: "ENOENT" });
    const resumed = await pullVersion(transport, join(scratch, "b"), { cacheDir });
    expect(resumed.transfer.reusedChunks).toBeGreaterThan(0);
    expect(resumed.transfer.fetchedChunks).toBeGreaterThan(0);
    expect(
      (await readFile(join(scratch, "b", "virtio0.img"))).equals(await readFile(join(sources, "big.img"))),
    ).toBe(true);
  });
});

describe("a hostile tree listing", () => {
  const dir = (path: string) => ({ path, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0 });
  const file = (path: string, content?: string) => ({
    path,
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    mtimeNsec: 0,
    size: content === undefined ? 0 : 5,
    ...(content === undefined ? {} : { chunks: [`@${content}`] }),
  });
  const link = (path: string, target: string) => ({
    path,
    type: "symlink",
    mode: 0o777,
    uid: 0,
    gid: 0,
    mtime: 0,
    mtimeNsec: 0,
    target,
  });
  const hard = (path: string, target: string) => ({
    path,
    type: "hardlink",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    mtimeNsec: 0,
    link: target,
  });

  const corpus: Array<[string, Array<Record<string, unknown>>, RegExp]> = [
    ["a .. path", [dir("."), file("../escaped", "evil")], /unsafe listing path "..\/escaped"/],
    ["an absolute path", [dir("."), file("/etc/passwd", "evil")], /unsafe listing path "\/etc\/passwd"/],
    ["an unnormalized path", [dir("."), file("a//b", "evil")], /path "a\/\/b" is not normalized/],
    [
      "a symlink then a file through it",
      [dir("."), link("a", "OUTSIDE"), file("a/planted", "evil")],
      /"a" on its way is a symlink/,
    ],
    ["a hard link out", [dir("."), hard("stolen", "../../secret")], /unsafe hard link target/],
    [
      "a hard link to a symlink pointing out",
      [dir("."), link("s", "OUTSIDE/secret"), hard("t", "s")],
      /is not a regular file in the destination/,
    ],
    ["entries out of order", [dir("."), file("b"), file("a")], /line 3 \("a"\) is out of order/],
    ["a listing without its root", [file("a")], /does not start with the root directory/],
    [
      "a file whose chunks are shorter than its size",
      [dir("."), { ...file("f", "evil"), size: 99 }],
      /has chunks of 5 bytes but a size of 99/,
    ],
  ];

  it.each(corpus)("refuses %s and writes nothing outside", async (_name, lines, message) => {
    const outside = join(scratch, "outside");
    await mkdir(outside);
    await writeFile(join(outside, "secret"), "secret");
    const resolved = lines.map((line) =>
      typeof line.target === "string" ? { ...line, target: line.target.replace("OUTSIDE", outside) } : line,
    );
    await repo.publishListing(resolved, { evil: "evil!" });
    const dest = join(scratch, "dest");
    await expect(pullVersion(new FileTransport(repo.dir), dest, { cacheDir })).rejects.toThrow(message);
    expect(await readdir(outside)).toEqual(["secret"]);
    expect((await lstat(join(outside, "secret"))).nlink).toBe(1);
    await expect(lstat(dest)).rejects.toMatchObject({ code: "ENOENT" });
    expect((await readdir(scratch)).filter((n) => n.includes("partial"))).toEqual([]);
  });
});

describe("a full disk", () => {
  for (const shape of ["an image", "a tree"]) {
    it(`fails a pull of ${shape} as DISK_FULL naming the disk, leaves nothing at the destination, and pulls once there is room`, async () => {
      // 3 MiB of random data: the cache's frames and the destination's copy need twice that.
      let source: string;
      if (shape === "an image") {
        source = await makeImage("disk.img", 768, () => true, randomBytes(4 << 20));
        await repo.publishImage(source);
      } else {
        source = join(sources, "rootfs-big");
        await mkdir(join(source, "data"), { recursive: true });
        for (const name of ["a", "b", "c"]) await writeFile(join(source, "data", name), randomBytes(1 << 20));
        await repo.publishTree(source);
      }
      const small = join(scratch, "small");
      await mkdir(small);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4M", "tmpfs", small]);
      try {
        const cache = join(small, "cache");
        const dest = join(small, "out");
        const error = await pullVersion(new FileTransport(repo.dir), dest, { cacheDir: cache }).catch(
          (e: unknown) => e,
        );
        expect(error).toMatchObject({
          code: "DISK_FULL",
          message: expect.stringContaining(
            `cannot pull file://${repo.dir} into ${dest}: the disk holding the cache ${cache} and ${dest} is full (ENOSPC: no space left on device`,
          ),
          hint: expect.stringContaining("Free space there (or give --cache a directory on another disk)"),
        });
        expect(await readdir(small)).toEqual(["cache"]); // no destination, no partial copy of it
        execFileSync("mount", ["-o", "remount,size=32M", small]);
        const pulled = await pullVersion(new FileTransport(repo.dir), dest, { cacheDir: cache });
        if (shape === "an image")
          expect((await readFile(pulled.disks[0]!.path)).equals(await readFile(source))).toBe(true);
        else
          for (const name of ["a", "b", "c"])
            expect(
              (await readFile(join(dest, "data", name))).equals(await readFile(join(source, "data", name))),
            ).toBe(true);
      } finally {
        execFileSync("umount", ["-l", small]);
      }
    });
  }
});

describe("a destination's disk that fills up, the cache on another", () => {
  // One big file (written in pieces, asynchronously) and many small ones (each written at once,
  // synchronously): both were cut off at the disk's end, the big one silently (the pull "succeeded").
  const trees: Array<{ name: string; files: Array<[string, number]> }> = [
    { name: "a big file", files: [["big", 3_000_000]] },
    {
      name: "many small files",
      files: Array.from({ length: 30 }, (_, i): [string, number] => [`f${i}`, 60_000]),
    },
  ];
  it.each(trees)("fails a pull of $name as DISK_FULL and leaves nothing there", async ({ files }) => {
    const rootfs = join(sources, "rootfs-files");
    await mkdir(rootfs, { recursive: true });
    for (const [name, size] of files) await writeFile(join(rootfs, name), randomBytes(size));
    await repo.publishTree(rootfs);
    const small = join(scratch, "small");
    await mkdir(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1M", "tmpfs", small]);
    try {
      const dest = join(small, "out");
      const error = await pullVersion(new FileTransport(repo.dir), dest, { cacheDir }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({
        code: "DISK_FULL",
        message: expect.stringContaining(`cannot pull file://${repo.dir} into ${dest}: the disk holding`),
      });
      expect(await readdir(small)).toEqual([]);
    } finally {
      execFileSync("umount", ["-l", small]);
    }
  });
});

describe("partial copies of pulls that were stopped", () => {
  it("are removed by the next pull when their process is gone, and kept while it lives", async () => {
    await repo.publishTree(await makeRootfs());
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid!;
    const partial = (name: string, pid: number, tag: string): string =>
      join(scratch, `.${name}.partial-${pid}-${tag}`);
    for (const path of [
      partial("out", gone, "0badf00d"),
      partial("out", process.pid, "a11ce000"),
      partial("other", gone, "0badf00d"),
    ]) {
      await mkdir(join(path, "etc"), { recursive: true });
      await chmod(join(path, "etc"), 0o555); // a failed tree can leave read-only directories
    }
    await pullVersion(new FileTransport(repo.dir), join(scratch, "out"), { cacheDir });
    const left = (await readdir(scratch)).filter((name) => name.includes(".partial-")).sort();
    expect(left).toEqual([`.other.partial-${gone}-0badf00d`, `.out.partial-${process.pid}-a11ce000`]);
  });

  it("is removed by `cui pull` itself when it is stopped with SIGTERM, which it reports", async () => {
    // 96 MiB of random blocks: long enough a pull to be stopped half-way.
    const image = join(sources, "big.img");
    await writeFile(image, randomBytes(96 << 20));
    console.log("T0", Date.now());
    await repo.publishImage(image);
    console.log("T1", Date.now());
    const cui = join(import.meta.dirname, "../../bin/cui.js");
    const dest = join(scratch, "out");
    const child = spawn(process.execPath, [cui, "pull", "--cache", cacheDir, repo.dir, dest], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // Stopped once its partial copy exists.
    const giveUp = Date.now() + 20_000;
    while (!(await readdir(scratch)).some((name) => name.startsWith(".out.partial-")) && Date.now() < giveUp)
      await new Promise((resolve) => setTimeout(resolve, 5));
    console.log("T2", Date.now());
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(stderr).toContain(`error: the pull of file://${repo.dir} was interrupted (SIGTERM)`);
    expect((await readdir(scratch)).filter((name) => name.includes("partial"))).toEqual([]);
    await expect(lstat(dest)).rejects.toMatchObject({ code: "ENOENT" });
  }, 60_000);
});
