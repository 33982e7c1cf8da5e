import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileTransport } from "../repo/file-transport.js";
import { materializeInCache } from "./materialize-in-cache.js";
import { makeTestRepo, type TestRepo } from "./test-repo.js";

let scratch: string;
let repo: TestRepo;

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-cached-"));
  repo = await makeTestRepo(scratch);
  const rootfs = join(scratch, "sources", "rootfs");
  await mkdir(join(rootfs, "bin"), { recursive: true });
  await writeFile(join(rootfs, "bin/app"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await repo.publishTree(rootfs);
});

afterEach(async () => {
  // The shared copies are read-only; make them writable again so they can be removed.
  const { execFile } = await import("node:child_process");
  await new Promise((resolve) => execFile("chmod", ["-R", "u+w", scratch], resolve));
  await rm(scratch, { recursive: true, force: true });
});

describe("materializeInCache", () => {
  it("makes one read-only copy per version and reuses it", async () => {
    const cacheDir = join(scratch, "cache");
    const transport = new FileTransport(repo.dir);
    const [first, concurrent] = await Promise.all([
      materializeInCache(transport, { cacheDir }),
      materializeInCache(transport, { cacheDir }),
    ]);
    expect(first.path).toBe(concurrent.path);
    expect(first.path).toMatch(new RegExp(`^${cacheDir}/disks/[0-9a-f-]{36}/1$`));
    expect(await readFile(join(first.path, "bin/app"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    // Modes exactly as published (an appliance sees them); the cache's own directories are 0700.
    expect((await stat(join(first.path, "bin/app"))).mode & 0o777).toBe(0o755);
    expect((await stat(join(cacheDir, "disks"))).mode & 0o777).toBe(0o700);
    const again = await materializeInCache(transport, { cacheDir, version: 1 });
    expect(again).toEqual({ path: first.path, version: 1, pulled: undefined });
  });
});
