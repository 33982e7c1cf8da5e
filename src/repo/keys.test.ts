import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreatePublisherKey, loadPublisherKey } from "./keys.js";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "collective-keys-"));
  execFileSync("mkfifo", [join(dir, "fifo")]);
  mkdirSync(join(dir, "a-directory"));
  writeFileSync(join(dir, "garbage"), "not a key\n");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("loadPublisherKey on what is not a key file", () => {
  // A fifo was waited on forever, /dev/zero read until memory ran out.
  it.each([
    ["fifo", "cannot read the publisher key DIR/fifo (it is a FIFO (named pipe))"],
    ["/dev/zero", "cannot read the publisher key /dev/zero (it is a character device)"],
    ["a-directory", "cannot read the publisher key DIR/a-directory (it is a directory)"],
    ["missing", "cannot read the publisher key DIR/missing (ENOENT)"],
    ["garbage", "DIR/garbage is not a PEM private key"],
  ])(
    "%s: %s",
    async (name, message) => {
      const path = name.startsWith("/") ? name : join(dir, name);
      await expect(loadPublisherKey(path)).rejects.toThrow(message.replace("DIR", dir));
    },
    5_000,
  );

  it("a fifo where the key is to be created is refused, not waited on", async () => {
    await expect(loadOrCreatePublisherKey(join(dir, "fifo"))).rejects.toThrow("(it is a FIFO (named pipe))");
  }, 5_000);
});
