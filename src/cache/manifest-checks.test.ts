import { describe, expect, it } from "vitest";
import type { Disk, Manifest } from "../repo/format.js";
import { checkManifestForFetch } from "./manifest-checks.js";

const hash = "ab".repeat(32);
const tree = (name: string): Disk => ({ name, shape: "tree", size: 1, entries: 1, listing: hash }) as Disk;
const block = (name: string, chunkSize: number): Disk =>
  ({ name, shape: "block", format: "raw", size: 4096, chunkSize, blocks: hash }) as Disk;
const manifestWith = (disks: Disk[]) => ({ version: 3, disks }) as unknown as Manifest;

describe("checkManifestForFetch", () => {
  it.each([
    ["a path for a disk name", [tree("../etc")], 'disk name "../etc" is not a plain file name'],
    ["a disk name with a slash", [tree("a/b")], 'disk name "a/b" is not a plain file name'],
    ["a dot for a disk name", [tree(".")], 'disk name "." is not a plain file name'],
    ["a disk named twice", [tree("root"), block("root", 4096)], "disk root appears twice"],
    [
      "a block chunk over 16 MiB",
      [block("hda", 1 << 25)],
      "block disk hda has chunks of 33554432 bytes, more than the 16777216 a fetch accepts",
    ],
  ])("refuses %s, naming the repository and version", (_label, disks, message) => {
    expect(() => checkManifestForFetch(manifestWith(disks), "file:///r")).toThrow(
      `file:///r version 3: ${message}`,
    );
  });

  it("accepts plain, distinct names and chunks up to 16 MiB", () => {
    expect(() =>
      checkManifestForFetch(manifestWith([tree("root"), block("hda", 1 << 24), block("sda.img", 4096)]), "x"),
    ).not.toThrow();
  });
});
