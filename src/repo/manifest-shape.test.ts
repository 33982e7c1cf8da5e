/**
 * A manifest signed with the repository's key but of the wrong shape (manifest-shape.ts) is refused with
 * MANIFEST_INVALID naming the repository, the version and the field, and every consumer reports that
 * instead of crashing on the field later.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pullVersion } from "../cache/pull.js";
import { runCui } from "../cli/run-in-process.js";
import { CollectiveError } from "../errors.js";
import { FileTransport } from "./file-transport.js";
import { paths } from "./format.js";
import { loadPublisherKey } from "./keys.js";
import { signManifest } from "./manifest.js";
import { publish } from "./publish.js";
import { RepoReader } from "./repo-reader.js";
import { containerCvl, makeRepository, TempDirs, vmCvl } from "./repo-test-kit.js";
import { RepositoryResolver } from "./resolver.js";
import { verifyRepository } from "./verify.js";
import { listVersions } from "./versions.js";

const temp = new TempDirs();

type Json = Record<string, unknown>;

/** A repository whose version 1 is a container appliance (a tree disk) and version 2 a VM (a block disk). */
async function twoKinds(label: string): Promise<{ repo: string; keyPath: string; url: string }> {
  const base = temp.make(label);
  const app = join(base, "app");
  mkdirSync(join(app, "rootfs"), { recursive: true });
  writeFileSync(join(app, "rootfs", "f"), "1");
  writeFileSync(join(app, "disk.img"), Buffer.alloc(8192, 1));
  writeFileSync(
    join(app, "vm.json"),
    JSON.stringify({
      format: "collective-vm",
      memoryMiB: 256,
      cpus: 1,
      disks: [{ device: "virtio0", file: "disk.img" }],
    }),
  );
  const { repo, keyPath } = await makeRepository(base);
  await publish({ repoDir: repo, cvlPath: containerCvl(app, "rootfs"), keyPath });
  await publish({ repoDir: repo, cvlPath: vmCvl(app, "vm.json"), keyPath });
  return { repo, keyPath, url: new FileTransport(repo).url };
}

function readManifest(repo: string, version: number): Json {
  return JSON.parse(readFileSync(join(repo, paths.manifest(version)), "utf8")) as Json;
}

/** Stores `manifest` (any JSON) as the version's manifest, signed with the repository's own key. */
async function storeSigned(repo: string, keyPath: string, version: number, manifest: unknown): Promise<void> {
  const publisher = await loadPublisherKey(keyPath);
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
  writeFileSync(join(repo, paths.manifest(version)), bytes);
  writeFileSync(
    join(repo, paths.signature(version)),
    signManifest(bytes, publisher.privateKey, publisher.publicKey),
  );
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

const MISSING = Symbol("missing");
type Path = ReadonlyArray<string | number>;

/** A copy of `manifest` with the field at `path` set to `value`, or removed for MISSING; [] replaces it all. */
function changed(manifest: Json, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(manifest);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === MISSING) delete parent[last];
  else parent[last] = value;
  return copy;
}

describe("a signed manifest of the wrong shape", () => {
  let fixture: { repo: string; keyPath: string; url: string; tree: Json; vm: Json };

  beforeAll(async () => {
    const made = await twoKinds("manifest-shape");
    fixture = { ...made, tree: readManifest(made.repo, 1), vm: readManifest(made.repo, 2) };
  });
  afterAll(() => temp.cleanup());

  const pack = "ab".repeat(32);
  const long = "x".repeat(71);
  // [base manifest, field changed, its new value, what the message says after "<repo> version <N>: "]
  const rows: Array<[base: "tree" | "vm", path: Path, value: unknown, says: string]> = [
    ["tree", [], null, "manifest.json is null, not a JSON object"],
    ["tree", [], [1, 2], "manifest.json is an array, not a JSON object"],
    ["tree", [], "manifest", 'manifest.json is the string "manifest", not a JSON object'],
    [
      "tree",
      ["format"],
      "collective-repository",
      'manifest field format is the string "collective-repository", expected "collective-manifest"',
    ],
    ["tree", ["format"], MISSING, 'manifest field format is missing, expected "collective-manifest"'],
    ["tree", ["formatVersion"], 3, "the manifest has format 3, newer than this cui reads (2)"],
    ["tree", ["formatVersion"], 1, "the manifest has format 1, older than this cui reads (2)"],
    ["tree", ["formatVersion"], "2", 'manifest field formatVersion is the string "2", expected the number 2'],
    ["tree", ["formatVersion"], 2.5, "manifest field formatVersion is 2.5, expected the number 2"],
    ["tree", ["repository"], MISSING, "manifest field repository is missing, expected a string"],
    ["tree", ["version"], "1", 'manifest field version is the string "1", expected a positive integer'],
    ["tree", ["version"], 0, "manifest field version is 0, expected a positive integer"],
    ["tree", ["created"], 1700000000, "manifest field created is 1700000000, expected an ISO 8601 date"],
    [
      "tree",
      ["created"],
      "yesterday",
      'manifest field created is the string "yesterday", expected an ISO 8601 date',
    ],
    ["tree", ["signer"], MISSING, "manifest field signer is missing, expected a string"],
    ["tree", ["appliance"], MISSING, "manifest field appliance is missing, expected an object"],
    ["tree", ["appliance"], "App", 'manifest field appliance is the string "App", expected an object'],
    ["tree", ["appliance", "name"], 7, "manifest field appliance.name is 7, expected a non-empty string"],
    [
      "tree",
      ["appliance", "name"],
      "",
      'manifest field appliance.name is the string "", expected a non-empty string',
    ],
    [
      "tree",
      ["appliance", "kind"],
      long,
      'manifest field appliance.kind is a string of 71 characters, expected "container", "vm" or "van"',
    ],
    [
      "tree",
      ["appliance", "kind"],
      "robot\u001b[2J",
      'manifest field appliance.kind is the string "robot\\u001b[2J", expected "container", "vm" or "van"',
    ],
    [
      "tree",
      ["appliance", "cvl"],
      MISSING,
      "manifest field appliance.cvl is missing, expected a non-empty string",
    ],
    ["tree", ["files"], MISSING, "manifest field files is missing, expected an array"],
    ["tree", ["files"], { "app.cvl": 68 }, "manifest field files is an object, expected an array"],
    ["tree", ["files", 0], null, "manifest field files[0] is null, expected an object"],
    ["tree", ["files", 0, "path"], 3, "manifest field files[0].path is 3, expected a non-empty string"],
    [
      "tree",
      ["files", 0, "path"],
      ["app.cvl"],
      "manifest field files[0].path is an array, expected a non-empty string",
    ],
    ["tree", ["files", 0, "size"], -1, "manifest field files[0].size is -1, expected a non-negative integer"],
    [
      "tree",
      ["files", 0, "size"],
      1e300,
      "manifest field files[0].size is 1e+300, expected a non-negative integer",
    ],
    [
      "tree",
      ["files", 0, "sha256"],
      "ABC",
      'manifest field files[0].sha256 is the string "ABC", expected a SHA-256 hash (64 lower-case hex digits)',
    ],
    ["tree", ["disks"], MISSING, "manifest field disks is missing, expected an array"],
    ["tree", ["disks"], "root", 'manifest field disks is the string "root", expected an array'],
    ["tree", ["disks", 0], "root", 'manifest field disks[0] is the string "root", expected an object'],
    [
      "tree",
      ["disks", 0, "name"],
      MISSING,
      "manifest field disks[0].name is missing, expected a non-empty string",
    ],
    ["tree", ["disks", 0, "size"], -5, "manifest field disks[0].size is -5, expected a non-negative integer"],
    [
      "tree",
      ["disks", 0, "size"],
      2 ** 53,
      "manifest field disks[0].size is 9007199254740992, expected a non-negative integer",
    ],
    [
      "tree",
      ["disks", 0, "size"],
      1.5,
      "manifest field disks[0].size is 1.5, expected a non-negative integer",
    ],
    [
      "tree",
      ["disks", 0, "shape"],
      "squashfs",
      'manifest field disks[0].shape is the string "squashfs", expected "tree" or "block"',
    ],
    [
      "tree",
      ["disks", 0, "entries"],
      "2",
      'manifest field disks[0].entries is the string "2", expected a non-negative integer',
    ],
    [
      "tree",
      ["disks", 0, "listing"],
      MISSING,
      "manifest field disks[0].listing is missing, expected a SHA-256 hash (64 lower-case hex digits)",
    ],
    ["tree", ["disks", 0, "config"], [], "manifest field disks[0].config is an array, expected an object"],
    ["tree", ["disks", 0, "config"], null, "manifest field disks[0].config is null, expected an object"],
    [
      "tree",
      ["disks", 0, "config"],
      { env: "PATH=/bin" },
      'manifest field disks[0].config.env is the string "PATH=/bin", expected an array of strings',
    ],
    [
      "tree",
      ["disks", 0, "config"],
      { entrypoint: ["/bin/sh"], cmd: ["-c", 1] },
      "manifest field disks[0].config.cmd[1] is 1, expected a string",
    ],
    [
      "tree",
      ["disks", 0, "config"],
      { entrypoint: [null] },
      "manifest field disks[0].config.entrypoint[0] is null, expected a string",
    ],
    [
      "tree",
      ["disks", 0, "config"],
      { workingDir: 0 },
      "manifest field disks[0].config.workingDir is 0, expected a string",
    ],
    [
      "tree",
      ["disks", 0, "config"],
      { user: false },
      "manifest field disks[0].config.user is false, expected a string",
    ],
    [
      "vm",
      ["disks", 0, "chunkSize"],
      0,
      "manifest field disks[0].chunkSize is 0, expected a positive integer",
    ],
    [
      "vm",
      ["disks", 0, "chunkSize"],
      MISSING,
      "manifest field disks[0].chunkSize is missing, expected a positive integer",
    ],
    [
      "vm",
      ["disks", 0, "blocks"],
      pack.toUpperCase(),
      `manifest field disks[0].blocks is the string "${pack.toUpperCase()}", expected a SHA-256 hash (64 lower-case hex digits)`,
    ],
    [
      "vm",
      ["disks", 0, "format"],
      "qcow2",
      'manifest field disks[0].format is the string "qcow2", expected "raw"',
    ],
    ["vm", ["machine"], null, "manifest field machine is null, expected an object"],
    [
      "vm",
      ["machine", "memoryMiB"],
      "256",
      'manifest field machine.memoryMiB is the string "256", expected a positive integer',
    ],
    ["vm", ["machine", "cpus"], 0, "manifest field machine.cpus is 0, expected a positive integer"],
    ["tree", ["packs"], MISSING, "manifest field packs is missing, expected an array"],
    [
      "tree",
      ["packs"],
      [pack, "not-a-pack"],
      'manifest field packs[1] is the string "not-a-pack", expected a pack id (64 lower-case hex digits)',
    ],
    ["tree", ["stats"], "big", 'manifest field stats is the string "big", expected an object'],
    [
      "tree",
      ["stats", "logicalBytes"],
      MISSING,
      "manifest field stats.logicalBytes is missing, expected a non-negative integer",
    ],
    [
      "tree",
      ["stats", "chunks"],
      1e21,
      "manifest field stats.chunks is 1e+21, expected a non-negative integer",
    ],
    [
      "tree",
      ["stats", "newChunks"],
      true,
      "manifest field stats.newChunks is true, expected a non-negative integer",
    ],
    [
      "tree",
      ["stats", "newBytes"],
      -1,
      "manifest field stats.newBytes is -1, expected a non-negative integer",
    ],
  ];

  it.each(rows)("refuses %s manifest with %j = %j", async (base, path, value, says) => {
    const version = base === "tree" ? 1 : 2;
    await storeSigned(fixture.repo, fixture.keyPath, version, changed(fixture[base], path, value));
    const error = await new RepoReader(new FileTransport(fixture.repo))
      .manifest(version)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CollectiveError);
    expect(error).toMatchObject({
      code: "MANIFEST_INVALID",
      message: `${fixture.url} version ${version}: ${says}`,
    });
  });

  it("says what to do: upgrade cui for a newer format; otherwise, that the publisher wrote it wrong", async () => {
    const hintOf = async (path: Path, value: unknown): Promise<string | undefined> => {
      await storeSigned(fixture.repo, fixture.keyPath, 1, changed(fixture.tree, path, value));
      const error = await new RepoReader(new FileTransport(fixture.repo))
        .manifest(1)
        .catch((e: unknown) => e);
      return (error as CollectiveError).hint;
    };
    expect(await hintOf(["formatVersion"], 3)).toBe("upgrade cui to use this version");
    expect(await hintOf(["disks"], {})).toMatch(/its publisher wrote a manifest this cui cannot read/);
  });

  const accepted: Array<[label: string, base: "tree" | "vm", path: Path, value: unknown]> = [
    ["a container appliance as published", "tree", ["appliance", "name"], "App"],
    ["a VM appliance as published", "vm", ["appliance", "name"], "Vm"],
    ["fields this cui does not know", "tree", ["future"], { anything: [1, "two", null] }],
    ["an unknown field of a disk", "vm", ["disks", 0, "compression"], "zstd"],
    [
      "a tree disk with an image config",
      "tree",
      ["disks", 0, "config"],
      { entrypoint: ["/bin/dns"], cmd: [], env: ["PATH=/usr/bin"], workingDir: "/", user: "0:0" },
    ],
    ["a tree disk with an empty image config", "tree", ["disks", 0, "config"], {}],
    ["a machine with no fields", "vm", ["machine"], {}],
    ["no machine", "vm", ["machine"], MISSING],
    ["no disks (a VAN)", "tree", ["disks"], []],
  ];

  it.each(accepted)("accepts %s", async (_label, base, path, value) => {
    const version = base === "tree" ? 1 : 2;
    const manifest = changed(fixture[base], path, value);
    await storeSigned(fixture.repo, fixture.keyPath, version, manifest);
    expect(await new RepoReader(new FileTransport(fixture.repo)).manifest(version)).toEqual(manifest);
  });

  it("refuses a manifest.sig that is JSON but no object", async () => {
    await storeSigned(fixture.repo, fixture.keyPath, 1, fixture.tree);
    writeFileSync(join(fixture.repo, paths.signature(1)), "null\n");
    await expect(new RepoReader(new FileTransport(fixture.repo)).manifest(1)).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
      message: `${fixture.url} version 1: manifest.sig is not an ed25519 signature`,
    });
  });
});

describe("what a user sees for a signed manifest of the wrong shape", () => {
  afterEach(() => temp.cleanup());

  /** twoKinds, with version 1's field at `path` set to `value` (or removed) and signed again. */
  async function broken(path: Path, value: unknown): Promise<{ repo: string; url: string }> {
    const made = await twoKinds("manifest-shape-e2e");
    await storeSigned(made.repo, made.keyPath, 1, changed(readManifest(made.repo, 1), path, value));
    return { repo: made.repo, url: made.url };
  }

  it("repo verify reports the version's problem and checks the other versions", async () => {
    // Without the check, verify threw a TypeError iterating the missing pack list.
    const { repo, url } = await broken(["packs"], MISSING);
    const message = `${url} version 1: manifest field packs is missing, expected an array`;
    const report = await verifyRepository(new RepoReader(new FileTransport(repo)));
    expect(report.problems).toEqual([{ repository: url, version: 1, message }]);
    expect(report).toMatchObject({ versions: 2, packs: 1 });
    expect(report.chunks).toBeGreaterThan(0);

    const cli = await runCui(["repo", "verify", repo]);
    expect(cli.status).toBe(1);
    expect(cli.stderr.split("\n")).toEqual([
      message,
      // (repo verify may add to the summary line what it did not check)
      expect.stringMatching(
        new RegExp(`^${escaped(url)}: 2 versions, 1 packs, \\d+ chunks checked, 1 problems`),
      ),
      "",
    ]);
  });

  it("cui versions lists the version as INVALID with the problem, and the others as they are", async () => {
    // Without the check, listing threw a TypeError reading appliance.kind.
    const { repo, url } = await broken(["appliance"], MISSING);
    const message = `${url} version 1: manifest field appliance is missing, expected an object`;
    const versions = await listVersions(new RepoReader(new FileTransport(repo)));
    expect(versions.map((v) => [v.version, v.error, v.name])).toEqual([
      [1, message, ""],
      [2, undefined, "Vm"],
    ]);

    const cli = await runCui(["versions", repo]);
    expect(cli.status).toBe(1);
    const lines = cli.stdout.split("\n");
    expect(lines[1]).toMatch(/^1\s+INVALID\s+/);
    expect(lines[1]!.replace(/^1\s+INVALID\s+/, "")).toBe(message);
    expect(lines[2]).toMatch(/^2\s+\S+ \S+\s+vm\s+/);
  });

  it("cui pull refuses the version before fetching anything", async () => {
    // Without the check, the pull succeeded and the CLI then threw a TypeError reading appliance.name.
    const { repo, url } = await broken(["appliance"], MISSING);
    const message = `${url} version 1: manifest field appliance is missing, expected an object`;
    const dest = join(repo, "..", "out");
    await expect(
      pullVersion(new FileTransport(repo), dest, { cacheDir: join(repo, "..", "cache"), version: 1 }),
    ).rejects.toMatchObject({ code: "MANIFEST_INVALID", message });
    const cli = await runCui(["pull", "--cache", join(repo, "..", "cache"), "--version", "1", repo, dest]);
    expect(cli.status).toBe(1);
    expect(cli.stderr.split("\n")[0]).toBe(`error: ${message}`);
  });

  it("a CVL import of the version fails with the problem", async () => {
    // Without the check, the resolver threw a TypeError calling files.some.
    const { repo, url } = await broken(["files"], "vm.cvl");
    await expect(
      new RepositoryResolver().resolve({ url: repo, importer: join(repo, "..", "user.cvl"), version: "1" }),
    ).rejects.toThrow(
      `${url} version 1: manifest field files is the string "vm.cvl", expected an array (the version is signed`,
    );
  });
});
