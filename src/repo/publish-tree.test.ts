import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileTransport } from "./file-transport.js";
import { materializeVersion } from "./materialize.js";
import { publish } from "./publish.js";
import { RepoReader } from "./repo-reader.js";
import { containerCvl, describeTree, makeRepository, TempDirs } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

/** A root filesystem with every kind of entry a tree listing stores. */
function makeRootfs(root: string): void {
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  mkdirSync(join(root, "dev"));
  mkdirSync(join(root, "ro"));
  writeFileSync(join(root, "etc/motd"), "welcome\n");
  writeFileSync(join(root, "etc/empty"), "");
  writeFileSync(join(root, "usr/bin/tool"), Buffer.alloc(300_000, 7));
  const random = Buffer.alloc(2_500_000);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(root, "usr/bin/big"), random);
  chmodSync(join(root, "usr/bin/tool"), 0o4755);
  linkSync(join(root, "usr/bin/tool"), join(root, "usr/bin/tool-alias"));
  symlinkSync("../etc/motd", join(root, "usr/motd-link"));
  symlinkSync("/nonexistent/absolute", join(root, "usr/dangling"));
  execFileSync("mkfifo", [join(root, "dev/fifo")]);
  execFileSync("mknod", [join(root, "dev/null"), "c", "1", "3"]);
  execFileSync("setfattr", ["-n", "user.origin", "-v", "collective", join(root, "etc/motd")]);
  chownSync(join(root, "etc/motd"), 1234, 5678);
  writeFileSync(join(root, "ro/file"), "read only\n");
  chmodSync(join(root, "ro"), 0o555);
  utimesSync(join(root, "etc/motd"), 1600000000.5, 1600000000.5);
}

type Form = "directory" | "tar" | "tar.gz" | "tar.zst";

async function publishAndPull(form: Form): Promise<{ source: string; pulled: string }> {
  const base = temp.make("tree");
  const app = join(base, "app");
  const rootfs = join(app, "rootfs");
  mkdirSync(rootfs, { recursive: true });
  makeRootfs(rootfs);
  let image = "rootfs";
  if (form !== "directory") {
    image = `rootfs.${form}`;
    execFileSync("tar", [
      "--xattrs",
      "--xattrs-include=*",
      ...{ tar: ["-cf"], "tar.gz": ["-czf"], "tar.zst": ["--zstd", "-cf"] }[form],
      join(app, image),
      "-C",
      rootfs,
      ".",
    ]);
  }
  const { repo, keyPath } = await makeRepository(base);
  const { version } = await publish({ repoDir: repo, cvlPath: containerCvl(app, image), keyPath });
  expect(version).toBe(1);
  const reader = new RepoReader(new FileTransport(repo));
  const manifest = await reader.manifest(1);
  const pulled = join(base, "pulled");
  await materializeVersion(reader, manifest, pulled);
  return { source: rootfs, pulled: join(pulled, "root") };
}

describe("publishing a container tree and materialising it again", () => {
  it.each<[Form]>([["directory"], ["tar"], ["tar.gz"], ["tar.zst"]])(
    "reproduces a %s image byte for byte with all metadata",
    async (form) => {
      const { source, pulled } = await publishAndPull(form);
      // tar keeps whole-second times only for the root entry it writes as "./"; compare times for directories too.
      expect(describeTree(pulled, { times: form === "directory" })).toEqual(
        describeTree(source, { times: form === "directory" }),
      );
    },
  );
});
