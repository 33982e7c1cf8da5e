import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { publish } from "./publish.js";
import { containerCvl, makeRepository, makeTar, TempDirs, vmCvl, zstdCompress } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

interface Case {
  readonly name: string;
  /** Builds the hostile input in the app directory; returns the CVL file. */
  readonly build: (app: string, base: string) => string;
  readonly code: string;
  readonly message: RegExp;
}

const tarCase = (
  name: string,
  entries: Parameters<typeof makeTar>[0],
  code: string,
  message: RegExp,
): Case => ({
  name,
  build: (app) => {
    writeFileSync(join(app, "image.tar"), makeTar(entries));
    return containerCvl(app, "image.tar");
  },
  code,
  message,
});

const cases: Case[] = [
  // Published before, then no pull could write them out: their listing starts with no root directory.
  ...[
    ['a tar whose root entry "." is a file', "."],
    ['a tar whose root entry "./" is a file', "./"],
  ].map(([name, entry]) =>
    tarCase(
      name!,
      [{ name: entry!, body: "x" }],
      "HOSTILE_ARCHIVE",
      /the archive's root entry "\." is a file, not a directory/,
    ),
  ),
  tarCase(
    "a tar whose root entry is a symlink",
    [{ name: ".", type: "2", link: "/" }],
    "HOSTILE_ARCHIVE",
    /the archive's root entry "\." is a symlink, not a directory/,
  ),
  tarCase(
    "a tar entry climbing out with ../",
    [{ name: "../x", body: "evil" }],
    "HOSTILE_ARCHIVE",
    /"\.\.\/x" is refused: it contains "\.\."/,
  ),
  tarCase(
    "a tar entry climbing out in the middle",
    [{ name: "etc/../../x", body: "evil" }],
    "HOSTILE_ARCHIVE",
    /is refused: it contains "\.\."/,
  ),
  tarCase(
    "an absolute tar entry",
    [{ name: "/etc/passwd", body: "root::0:0" }],
    "HOSTILE_ARCHIVE",
    /"\/etc\/passwd" is refused: it is absolute/,
  ),
  tarCase(
    "a symlink and then a file through it",
    [
      { name: "etc", type: "2", link: "/etc" },
      { name: "etc/passwd", body: "root::0:0" },
    ],
    "HOSTILE_ARCHIVE",
    /"etc\/passwd" lies under "etc", which is a symlink/,
  ),
  tarCase(
    "a hard link to an absolute path",
    [{ name: "x", type: "1", link: "/etc/shadow" }],
    "HOSTILE_ARCHIVE",
    /points outside the image/,
  ),
  tarCase(
    "a hard link climbing out",
    [{ name: "x", type: "1", link: "../../etc/shadow" }],
    "HOSTILE_ARCHIVE",
    /is refused: it contains "\.\."/,
  ),
  tarCase(
    "a hard link to nothing in the image",
    [{ name: "x", type: "1", link: "missing" }],
    "HOSTILE_ARCHIVE",
    /not a regular file inside the image/,
  ),
  {
    name: "a truncated tar",
    build: (app) => {
      writeFileSync(
        join(app, "image.tar"),
        makeTar([{ name: "big", body: Buffer.alloc(100_000, 1) }]).subarray(0, 20_000),
      );
      return containerCvl(app, "image.tar");
    },
    code: "BAD_ARCHIVE",
    message: /truncated/,
  },
  {
    name: "an unknown image format",
    build: (app) => {
      writeFileSync(join(app, "image.img"), Buffer.alloc(4096, 0x41));
      return containerCvl(app, "image.img");
    },
    code: "UNKNOWN_IMAGE_FORMAT",
    message: /is not a directory, a tar archive or a compressed tar/,
  },
  {
    name: "an xz-compressed image",
    build: (app) => {
      // xz's stream header: the magic is all that is read before the image is refused.
      writeFileSync(join(app, "image.tar.xz"), Buffer.from("fd377a585a000004e6d6b446", "hex"));
      return containerCvl(app, "image.tar.xz");
    },
    code: "UNSUPPORTED_COMPRESSION",
    message: /is xz-compressed, which cannot be read here/,
  },
  {
    name: "a corrupt zstd-compressed image",
    build: (app) => {
      // A real frame whose middle is overwritten: zstd fails on the block (or on its checksum).
      const whole = zstdCompress(makeTar([{ name: "a", body: "hello world ".repeat(5_000) }]));
      whole.fill(0xff, 12, whole.length - 8);
      writeFileSync(join(app, "image.tar.zst"), whole);
      return containerCvl(app, "image.tar.zst");
    },
    code: "BAD_ARCHIVE",
    message: /image.tar.zst.*: zstd data is corrupt/,
  },
  {
    name: "a truncated zstd-compressed image",
    build: (app) => {
      const whole = zstdCompress(makeTar([{ name: "a", body: "x".repeat(50_000) }]));
      writeFileSync(join(app, "image.tar.zst"), whole.subarray(0, whole.length - 9));
      return containerCvl(app, "image.tar.zst");
    },
    code: "BAD_ARCHIVE",
    message: /image.tar.zst.*: zstd data ends in the middle of a frame/,
  },
  {
    name: "a missing image",
    build: (app) => containerCvl(app, "nothing-here"),
    code: "FILE_MISSING",
    message: /"nothing-here" .* cannot be read \(ENOENT\)/,
  },
  {
    name: "an image path with ..",
    build: (app) => containerCvl(app, "../outside"),
    code: "PATH_ESCAPES",
    message: /must be a relative path inside/,
  },
  {
    name: "an image reached through a symlink out of the CVL directory",
    build: (app, base) => {
      mkdirSync(join(base, "elsewhere"));
      symlinkSync(join(base, "elsewhere"), join(app, "rootfs"));
      return containerCvl(app, "rootfs");
    },
    code: "PATH_ESCAPES",
    message: /through a symlink, outside/,
  },
  {
    name: "a VM disk outside the CVL directory",
    build: (app) => {
      writeFileSync(
        join(app, "vm.json"),
        JSON.stringify({ format: "collective-vm", disks: [{ device: "virtio0", file: "/etc/hostname" }] }),
      );
      return vmCvl(app, "vm.json");
    },
    code: "PATH_ESCAPES",
    message: /"\/etc\/hostname" must be a relative path/,
  },
  {
    name: "a qcow2 disk with a backing file",
    build: (app) => {
      execFileSync("qemu-img", ["create", "-f", "qcow2", join(app, "base.qcow2"), "1M"], { stdio: "ignore" });
      execFileSync(
        "qemu-img",
        ["create", "-f", "qcow2", "-F", "qcow2", "-b", join(app, "base.qcow2"), join(app, "top.qcow2")],
        { stdio: "ignore" },
      );
      writeFileSync(
        join(app, "vm.json"),
        JSON.stringify({ format: "collective-vm", disks: [{ device: "virtio0", file: "top.qcow2" }] }),
      );
      return vmCvl(app, "vm.json");
    },
    code: "UNSUPPORTED_DISK",
    message: /has a backing file/,
  },
  {
    name: "a CVL file that does not define a valid appliance",
    build: (app) => {
      writeFileSync(
        join(app, "bad.cvl"),
        'CVL = "0.8";\nBad extends ContainerAppliance {\n  imgae = "x";\n}\n',
      );
      return join(app, "bad.cvl");
    },
    code: "CVL_INVALID",
    message: /does not define a valid appliance/,
  },
];

describe("publishing hostile or broken input", () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    "refuses %s with a clear error and leaves no version",
    async (_name, c) => {
      const base = temp.make("hostile");
      const app = join(base, "app");
      mkdirSync(app);
      const cvl = c.build(app, base);
      const { repo, keyPath } = await makeRepository(base);
      const error = await publish({ repoDir: repo, cvlPath: cvl, keyPath }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CollectiveError);
      expect((error as CollectiveError).code).toBe(c.code);
      expect((error as CollectiveError).message).toMatch(c.message);
      expect(readdirSync(join(repo, "versions"))).toEqual([]);
      expect(readdirSync(join(repo, "tmp"))).toEqual([]);
    },
  );
});

describe("publishing through a symlinked directory", () => {
  it("stores the CVL file inside the version, by its name, and writes nothing outside the repository", async () => {
    const base = temp.make("symlinked");
    const app = join(base, "real", "app");
    mkdirSync(join(app, "rootfs", "bin"), { recursive: true });
    writeFileSync(join(app, "rootfs", "bin", "run"), "#!/bin/sh\n");
    containerCvl(app, "rootfs");
    symlinkSync(join(base, "real"), join(base, "link"));
    const { repo, keyPath } = await makeRepository(base);
    const version = await publish({ repoDir: repo, cvlPath: join(base, "link", "app", "app.cvl"), keyPath });
    expect(version.version).toBe(1);
    const files = readdirSync(join(repo, "versions", "1", "files"), { recursive: true }).map(String);
    expect(files).toContain("app.cvl");
    expect(files.some((f) => f.includes(".."))).toBe(false);
    // Nothing was written beside the repository (the bug wrote the CVL file to a "../.." path).
    expect(readdirSync(base).sort()).toEqual(["link", "real", "repo", "repo.key"]);
    expect(readdirSync(join(base, "real", "app")).sort()).toEqual(["app.cvl", "rootfs"]);
  });
});
