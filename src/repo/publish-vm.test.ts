import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileTransport } from "./file-transport.js";
import type { BlockDisk } from "./format.js";
import { materializeVersion } from "./materialize.js";
import { publish } from "./publish.js";
import { RepoReader } from "./repo-reader.js";
import { makeRepository, settle, TempDirs, vmCvl } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

/** A sparse 64 MiB disk with data at a few places, and an odd tail so the size is not a block multiple. */
function makeRawDisk(path: string, seed: number): void {
  const fd = openSync(path, "w");
  for (const offset of [0, 5 << 20, 33 << 20, (64 << 20) - 10_000]) {
    const data = Buffer.alloc(9000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed + offset) & 0xff;
    writeSync(fd, data, 0, data.length, offset);
  }
  // 512-byte sectors (qemu-img rounds to them) but not a whole number of 4 KiB chunks.
  writeSync(fd, Buffer.from("tail"), 0, 4, (64 << 20) + 1020);
  closeSync(fd);
}

type DiskFormat = "raw" | "qcow2" | "vmdk";
type Descriptor = "vmx" | "json";

async function roundTrip(format: DiskFormat, descriptor: Descriptor): Promise<void> {
  const base = temp.make("vm");
  const app = join(base, "app");
  mkdirSync(join(app, "disks"), { recursive: true });
  makeRawDisk(join(app, "disks/root.raw"), 1);
  makeRawDisk(join(app, "disks/data.raw"), 2);
  let rootFile = "root.raw";
  if (format !== "raw") {
    rootFile = `root.${format}`;
    execFileSync("qemu-img", [
      "convert",
      "-f",
      "raw",
      "-O",
      format,
      join(app, "disks/root.raw"),
      join(app, "disks", rootFile),
    ]);
  }
  const vmFile = descriptor === "vmx" ? "app.vmx" : "app.json";
  if (descriptor === "vmx") {
    writeFileSync(
      join(app, vmFile),
      [
        '.encoding = "UTF-8"',
        'memsize = "512"',
        'numvcpus = "2"',
        'ide0:0.present = "TRUE"',
        `ide0:0.fileName = "disks/${rootFile}"`,
        'ide0:1.present = "TRUE"',
        'ide0:1.fileName = "disks/data.raw"',
        'ide1:0.deviceType = "cdrom-image"',
        'ide1:0.fileName = "install.iso"',
      ].join("\n"),
    );
  } else {
    writeFileSync(
      join(app, vmFile),
      JSON.stringify({
        format: "collective-vm",
        memoryMiB: 512,
        cpus: 2,
        disks: [
          { device: "ide0:0", file: `disks/${rootFile}` },
          { device: "ide0:1", file: "disks/data.raw" },
        ],
      }),
    );
  }
  const { repo, keyPath } = await makeRepository(base);
  await publish({ repoDir: repo, cvlPath: vmCvl(app, vmFile, ["ide0:1"]), keyPath });
  const reader = new RepoReader(new FileTransport(repo));
  const manifest = await reader.manifest(1);
  expect(manifest.machine).toEqual({ memoryMiB: 512, cpus: 2 });
  expect(manifest.disks.map((d) => d.name)).toEqual(["ide0:0"]); // the data disk is never stored
  expect(manifest.files.map((f) => f.path).sort()).toEqual([vmFile, "vm.cvl"].sort());
  expect((manifest.disks[0] as BlockDisk).size).toBe(statSync(join(app, "disks/root.raw")).size);
  const out = join(base, "out");
  await materializeVersion(reader, manifest, out);
  const pulled = join(out, "ide0-0.raw");
  expect(readFileSync(pulled).equals(readFileSync(join(app, "disks/root.raw")))).toBe(true);
  // Holes stay holes: 64 MiB apparent, a few blocks allocated.
  expect(statSync(pulled).blocks * 512).toBeLessThan(1 << 20);
  // The repository holds about the data, not 64 MiB.
  expect(
    Number(execFileSync("du", ["-sb", join(repo, "packs")], { encoding: "utf8" }).split("\t")[0]),
  ).toBeLessThan(200_000);
}

describe("publishing VM appliances as block images", () => {
  it.each<[DiskFormat, Descriptor]>([
    ["raw", "vmx"],
    ["qcow2", "vmx"],
    ["vmdk", "json"],
    ["raw", "json"],
  ])(
    "stores a %s disk named by a %s descriptor and reproduces it sparse and byte for byte",
    roundTrip,
    60_000,
  );
});

describe("republishing a VM appliance", () => {
  it("takes an unchanged image from the last publish's record, and notices a rewrite that restored the old mtime", async () => {
    const base = temp.make("vm-again");
    const app = join(base, "app");
    mkdirSync(join(app, "disks"), { recursive: true });
    const image = join(app, "disks/root.raw");
    makeRawDisk(image, 1);
    writeFileSync(
      join(app, "app.json"),
      JSON.stringify({ format: "collective-vm", disks: [{ device: "virtio0", file: "disks/root.raw" }] }),
    );
    const { repo, keyPath } = await makeRepository(base);
    const cvlPath = vmCvl(app, "app.json");
    await settle(); // an image written just now gets no record (change-cutoff.ts)
    const first = await publish({ repoDir: repo, cvlPath, keyPath });
    let progressCalls = 0;
    const again = await publish({ repoDir: repo, cvlPath, keyPath, progress: () => progressCalls++ });
    expect(progressCalls).toBe(1); // the whole image at once: it was not read
    expect(again.manifest.disks).toEqual(first.manifest.disks);
    expect(again.manifest.packs).toEqual(first.manifest.packs);
    expect(again.manifest.stats.chunks).toBe(first.manifest.stats.chunks);
    expect(again.manifest.stats.newChunks).toBe(0);

    const { mtime, atime } = statSync(image);
    const fd = openSync(image, "r+");
    writeSync(fd, Buffer.from("changed, same size"), 0, 18, 5 << 20);
    closeSync(fd);
    utimesSync(image, atime, mtime);
    const changed = await publish({ repoDir: repo, cvlPath, keyPath });
    expect((changed.manifest.disks[0] as BlockDisk).blocks).not.toBe(
      (first.manifest.disks[0] as BlockDisk).blocks,
    );
    const reader = new RepoReader(new FileTransport(repo));
    const out = join(base, "out");
    await materializeVersion(reader, await reader.manifest(changed.version), out);
    expect(readFileSync(join(out, "virtio0.raw")).equals(readFileSync(image))).toBe(true);
  });
});
