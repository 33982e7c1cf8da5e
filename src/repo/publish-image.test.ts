import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { FileTransport } from "./file-transport.js";
import type { TreeDisk } from "./format.js";
import { materializeVersion } from "./materialize.js";
import { publish } from "./publish.js";
import { RepoReader } from "./repo-reader.js";
import { containerCvl, makeRepository, makeTar, settle, TempDirs, zstdCompress } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Two layers: the upper one deletes etc/a (whiteout), hides the lower dir/ (opaque) and changes etc/b;
 * the upper one compressed with gzip, or with zstd as OCI's `tar+zstd` layers are.
 */
function layers(upperCompression: "gzip" | "zstd" = "gzip"): {
  lower: Buffer;
  upper: Buffer;
  config: Buffer;
} {
  const lower = makeTar([
    { name: "etc/", type: "5", mode: 0o755 },
    { name: "etc/a", body: "lower a\n" },
    { name: "etc/b", body: "lower b\n" },
    { name: "dir/", type: "5", mode: 0o755 },
    { name: "dir/x", body: "lower x\n" },
    { name: "bin/", type: "5", mode: 0o755 },
    { name: "bin/sh", body: "#!shell\n", mode: 0o755 },
  ]);
  const upperTar = makeTar([
    { name: "etc/.wh.a" },
    { name: "etc/b", body: "upper b\n" },
    { name: "dir/", type: "5", mode: 0o700 },
    { name: "dir/.wh..wh..opq" },
    { name: "dir/z", body: "upper z\n" },
  ]);
  const upper = upperCompression === "gzip" ? gzipSync(upperTar) : zstdCompress(upperTar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {
        Entrypoint: ["/bin/sh"],
        Cmd: ["-c", "serve"],
        Env: ["PATH=/bin"],
        WorkingDir: "/srv",
        User: "1000:1000",
      },
      rootfs: { type: "layers", diff_ids: [] },
    }),
  );
  return { lower, upper, config };
}

function ociLayout(dir: string, upperCompression: "gzip" | "zstd" = "gzip"): void {
  const { lower, upper, config } = layers(upperCompression);
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  const put = (b: Buffer) => {
    writeFileSync(join(dir, "blobs/sha256", sha(b)), b);
    return `sha256:${sha(b)}`;
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: put(config),
        size: config.length,
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: put(lower), size: lower.length },
        {
          mediaType: `application/vnd.oci.image.layer.v1.tar+${upperCompression}`,
          digest: put(upper),
          size: upper.length,
        },
      ],
    }),
  );
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: put(manifest),
        size: manifest.length,
      },
    ],
  };
  writeFileSync(join(dir, "index.json"), JSON.stringify(index));
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

function dockerSave(file: string): void {
  const { lower, upper, config } = layers();
  const [a, b] = [sha(lower), sha(upper)];
  writeFileSync(
    file,
    makeTar([
      { name: `${a}/`, type: "5" },
      { name: `${a}/layer.tar`, body: lower },
      { name: `${b}/`, type: "5" },
      { name: `${b}/layer.tar`, body: upper },
      { name: `${sha(config)}.json`, body: config },
      {
        name: "manifest.json",
        body: JSON.stringify([
          {
            Config: `${sha(config)}.json`,
            RepoTags: ["app:1"],
            Layers: [`${a}/layer.tar`, `${b}/layer.tar`],
          },
        ]),
      },
    ]),
  );
}

describe("container images with layers", () => {
  it.each([
    ["an OCI image layout", "oci", (app: string) => ociLayout(join(app, "oci"))],
    ["an OCI image layout with a zstd layer", "oci", (app: string) => ociLayout(join(app, "oci"), "zstd")],
    ["a docker save archive", "image.tar", (app: string) => dockerSave(join(app, "image.tar"))],
    [
      "a gzip-compressed docker save archive",
      "image.tar.gz",
      (app: string) => {
        dockerSave(join(app, "plain.tar"));
        writeFileSync(join(app, "image.tar.gz"), gzipSync(readFileSync(join(app, "plain.tar"))));
      },
    ],
    [
      "a zstd-compressed docker save archive",
      "image.tar.zst",
      (app: string) => {
        dockerSave(join(app, "plain.tar"));
        writeFileSync(join(app, "image.tar.zst"), zstdCompress(readFileSync(join(app, "plain.tar"))));
      },
    ],
  ])("applies the layers of %s with whiteouts and keeps the image config", async (_label, image, build) => {
    const base = temp.make("image");
    const app = join(base, "app");
    mkdirSync(app);
    build(app);
    const { repo, keyPath } = await makeRepository(base);
    await publish({ repoDir: repo, cvlPath: containerCvl(app, image), keyPath });
    const reader = new RepoReader(new FileTransport(repo));
    const manifest = await reader.manifest(1);
    expect((manifest.disks[0] as TreeDisk).config).toEqual({
      entrypoint: ["/bin/sh"],
      cmd: ["-c", "serve"],
      env: ["PATH=/bin"],
      workingDir: "/srv",
      user: "1000:1000",
    });
    const out = join(base, "out");
    await materializeVersion(reader, manifest, out);
    const root = join(out, "root");
    expect(existsSync(join(root, "etc/a"))).toBe(false);
    expect(readFileSync(join(root, "etc/b"), "utf8")).toBe("upper b\n");
    expect(existsSync(join(root, "dir/x"))).toBe(false);
    expect(readFileSync(join(root, "dir/z"), "utf8")).toBe("upper z\n");
    expect(readFileSync(join(root, "bin/sh"), "utf8")).toBe("#!shell\n");
    // The overwritten lower etc/b and hidden dir/x were never stored: only 4 file chunks plus metadata.
    const listing = await reader.treeListing(manifest, (manifest.disks[0] as TreeDisk).listing);
    expect(listing.filter((e) => e.type === "file").map((e) => e.path)).toEqual(["bin/sh", "dir/z", "etc/b"]);
  });
});

describe("republishing an unchanged archive or OCI layout", () => {
  const rootfsTar = (file: string, motd: string): void =>
    writeFileSync(
      file,
      makeTar([
        { name: "etc/", type: "5" },
        { name: "etc/motd", body: motd },
        { name: "bin/sh", body: "#!shell\n" },
      ]),
    );

  it.each<[string, string, (file: string) => void]>([
    ["a root filesystem tar", "rootfs.tar", (file) => rootfsTar(file, "welcome\n")],
    ["a docker save archive", "image.tar", dockerSave],
    ["an OCI image layout", "oci", (dir) => ociLayout(dir)],
  ])(
    "takes %s whole from the last publish's record, config included, without reading it",
    async (_, name, build) => {
      const base = temp.make("archive-again");
      const app = join(base, "app");
      mkdirSync(app);
      build(join(app, name));
      const { repo, keyPath } = await makeRepository(base);
      const cvlPath = containerCvl(app, name);
      await settle(); // an archive written just now gets no record (change-cutoff.ts)
      const first = await publish({ repoDir: repo, cvlPath, keyPath });
      let progressCalls = 0;
      const again = await publish({ repoDir: repo, cvlPath, keyPath, progress: () => progressCalls++ });
      expect(progressCalls).toBe(1); // the whole tree at once: the archive was not read
      expect(again.manifest.disks).toEqual(first.manifest.disks);
      expect(again.manifest.packs).toEqual(first.manifest.packs);
      expect(again.manifest.stats.newChunks).toBe(0);
    },
  );

  it("reads an OCI layout again once anything in it changed", async () => {
    const base = temp.make("layout-changed");
    const app = join(base, "app");
    mkdirSync(app);
    ociLayout(join(app, "oci"));
    const { repo, keyPath } = await makeRepository(base);
    const cvlPath = containerCvl(app, "oci");
    await settle();
    await publish({ repoDir: repo, cvlPath, keyPath });
    // A blob added deep inside (as a copy of another image into the same layout does).
    writeFileSync(join(app, "oci", "blobs", "sha256", sha(Buffer.from("more\n"))), "more\n");
    let progressCalls = 0;
    await publish({ repoDir: repo, cvlPath, keyPath, progress: () => progressCalls++ });
    expect(progressCalls).toBeGreaterThan(1); // its layers read again
  });

  it("reads an archive again once it changed, even with its old size and mtime", async () => {
    const base = temp.make("archive-changed");
    const app = join(base, "app");
    mkdirSync(app);
    const file = join(app, "rootfs.tar");
    rootfsTar(file, "welcome\n");
    const { repo, keyPath } = await makeRepository(base);
    const cvlPath = containerCvl(app, "rootfs.tar");
    await settle();
    await publish({ repoDir: repo, cvlPath, keyPath });
    const { atime, mtime, size } = statSync(file);
    rootfsTar(file, "goodbye\n"); // the same length
    utimesSync(file, atime, mtime);
    expect(statSync(file).size).toBe(size);
    let progressCalls = 0;
    const changed = await publish({ repoDir: repo, cvlPath, keyPath, progress: () => progressCalls++ });
    expect(progressCalls).toBeGreaterThan(1); // read file by file
    const reader = new RepoReader(new FileTransport(repo));
    const out = join(base, "out");
    await materializeVersion(reader, changed.manifest, out);
    expect(readFileSync(join(out, "root", "etc/motd"), "utf8")).toBe("goodbye\n");
  });
});
