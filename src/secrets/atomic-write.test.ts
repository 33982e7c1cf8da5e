import type * as fs from "node:fs";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";

// rename() is the step that must not leave half a file: make it fail on demand.
const failRename = { on: false };
vi.mock("node:fs", async (importOriginal) => {
  const original = await importOriginal<typeof fs>();
  return {
    ...original,
    renameSync: (from: string, to: string) => {
      if (failRename.on)
        throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      return original.renameSync(from, to);
    },
  };
});

const { writeFileAtomic } = await import("./atomic-write.js");

describe("writeFileAtomic", () => {
  const dir = mkdtempSync(join(tmpdir(), "cui-atomic-"));
  afterEach(() => {
    failRename.on = false;
  });

  it("replaces a file, with mode 0600", () => {
    const path = join(dir, "a");
    writeFileSync(path, "old");
    writeFileAtomic(path, "new");
    expect(readFileSync(path, "utf8")).toBe("new");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["a"]);
  });

  it("leaves the old file and no temporary file when the write fails", () => {
    const path = join(dir, "b");
    writeFileSync(path, "old");
    failRename.on = true;
    expect(() => writeFileAtomic(path, "new")).toThrow(/ENOSPC/);
    expect(readFileSync(path, "utf8")).toBe("old");
    expect(readdirSync(dir).sort()).toEqual(["a", "b"]);
  });

  it("in exclusive mode refuses an existing file", () => {
    const path = join(dir, "c");
    writeFileSync(path, "old");
    expect(() => writeFileAtomic(path, "new", { exclusive: true })).toThrow(/EEXIST/);
    expect(readFileSync(path, "utf8")).toBe("old");
    writeFileAtomic(join(dir, "d"), "fresh", { exclusive: true });
    expect(readFileSync(join(dir, "d"), "utf8")).toBe("fresh");
    expect(readdirSync(dir).sort()).toEqual(["a", "b", "c", "d"]);
    rmSync(dir, { recursive: true, force: true });
  });
});
