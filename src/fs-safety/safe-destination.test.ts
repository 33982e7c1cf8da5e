import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SafeDestination } from "./safe-destination.js";

let scratch: string;
let root: string;
let outside: string;

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-safedest-"));
  root = join(scratch, "root");
  outside = join(scratch, "outside");
  await mkdir(root);
  await mkdir(outside);
  await writeFile(join(outside, "secret"), "secret");
});

afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("SafeDestination", () => {
  it("writes files, directories, symlinks and hard links inside the root", async () => {
    const dest = new SafeDestination(root);
    await dest.mkdir("etc");
    await dest.writeFile("./etc//hosts", Buffer.from("127.0.0.1 localhost\n"));
    await dest.symlink("usr/bin/python", "/usr/bin/python3");
    await dest.hardlink("etc/hosts.bak", "etc/hosts");
    expect(await readFile(join(root, "etc/hosts"), "utf8")).toBe("127.0.0.1 localhost\n");
    expect(await readlink(join(root, "usr/bin/python"))).toBe("/usr/bin/python3");
    expect((await lstat(join(root, "etc/hosts.bak"))).nlink).toBe(2);
  });

  // The hostile corpus: each entry list must fail with UNSAFE_PATH and leave the outside untouched.
  const hostile: Array<[string, (dest: SafeDestination) => Promise<unknown>]> = [
    ["a .. path", (d) => d.writeFile("../outside/secret", Buffer.from("x"))],
    ["a .. in the middle", (d) => d.writeFile("a/../../outside/new", Buffer.from("x"))],
    ["an absolute path", (d) => d.writeFile("/etc/passwd", Buffer.from("x"))],
    ["a NUL byte", (d) => d.writeFile("a\0b", Buffer.from("x"))],
    ["the root itself", (d) => d.writeFile("./", Buffer.from("x"))],
    [
      "a symlink then a file through it",
      async (d) => {
        await d.symlink("link", outside);
        await d.writeFile("link/secret2", Buffer.from("x"));
      },
    ],
    [
      "a symlink then a directory through it",
      async (d) => {
        await d.symlink("link", outside);
        await d.mkdir("link/sub");
      },
    ],
    ["a hard link to a file outside", (d) => d.hardlink("stolen", "../outside/secret")],
    ["a hard link by absolute path", (d) => d.hardlink("stolen", join(outside, "secret"))],
    [
      "a hard link through a symlinked directory",
      async (d) => {
        await d.symlink("link", outside);
        await d.hardlink("stolen", "link/secret");
      },
    ],
    [
      "a hard link to a symlink pointing outside",
      async (d) => {
        await d.symlink("link", join(outside, "secret"));
        await d.hardlink("stolen", "link");
      },
    ],
    ["an over-long name", (d) => d.writeFile("x".repeat(256), Buffer.from("x"))],
  ];

  it.each(hostile)("refuses %s", async (_name, attack) => {
    const dest = new SafeDestination(root);
    await expect(attack(dest)).rejects.toMatchObject({ code: "UNSAFE_PATH" });
    expect(await readFile(join(outside, "secret"), "utf8")).toBe("secret");
    expect((await lstat(join(outside, "secret"))).nlink).toBe(1);
  });

  it("never overwrites or follows an existing leaf", async () => {
    const dest = new SafeDestination(root);
    await symlink(join(outside, "secret"), join(root, "planted"));
    await expect(dest.writeFile("planted", Buffer.from("x"))).rejects.toMatchObject({ code: "EEXIST" });
    expect(await readFile(join(outside, "secret"), "utf8")).toBe("secret");
  });

  it("names the path and the reason in the error", async () => {
    const dest = new SafeDestination(root);
    await dest.symlink("link", outside);
    await expect(dest.writeFile("link/x", Buffer.from("x"))).rejects.toThrow(
      /refusing to write "link\/x" under .*: "link" on its way is a symlink/,
    );
    await dest.writeFile("file", Buffer.from("x"));
    await expect(dest.mkdir("file/sub")).rejects.toThrow(
      /refusing to write "file\/sub" under .*: "file" on its way is not a directory/,
    );
    await expect(dest.mkdir("link")).rejects.toThrow(/"link" on its way is a symlink/);
    await dest.mkdir("made");
    // An existing real directory is fine, also for a writer that has not checked it yet.
    await expect(new SafeDestination(root).mkdir("made")).resolves.toBe(join(root, "made"));
  });
});
