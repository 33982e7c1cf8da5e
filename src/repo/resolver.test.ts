import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ImportFailure } from "../cvl/resolver.js";
import { loadOrCreatePublisherKey } from "./keys.js";
import { publish } from "./publish.js";
import { makeRepository, TempDirs } from "./repo-test-kit.js";
import { RepositoryResolver } from "./resolver.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

/** A repository with two versions of a VAN appliance whose CVL differs by a comment. */
async function twoVersions() {
  const base = temp.make("resolver");
  const app = join(base, "app");
  mkdirSync(app);
  const { repo, keyPath, publicKey } = await makeRepository(base);
  const cvl = join(app, "net.cvl");
  for (const n of [1, 2]) {
    writeFileSync(cvl, `CVL = "0.8";\n// version ${n}\nNet extends VANAppliance {\n}\n`);
    await publish({ repoDir: repo, cvlPath: cvl, keyPath });
  }
  const importer = join(base, "user.cvl");
  return { base, repo, publicKey, importer };
}

describe("the repository import resolver", () => {
  it("handles repository directories and http urls, not plain CVL files", async () => {
    const { repo, importer, base } = await twoVersions();
    const resolver = new RepositoryResolver();
    expect(await resolver.handles({ url: repo, importer })).toBe(true);
    expect(await resolver.handles({ url: pathToFileURL(repo).href, importer })).toBe(true);
    expect(await resolver.handles({ url: "repo", importer })).toBe(true); // relative to the importing file
    expect(await resolver.handles({ url: "http://example.invalid/repo", importer })).toBe(true);
    expect(await resolver.handles({ url: join(base, "app"), importer })).toBe(false);
  });

  it.each([
    ["latest when no version is given", undefined, 2, false],
    ["the version asked for", "1", 1, true],
  ])("resolves %s, verified, and records the origin", async (_label, version, expected, pinned) => {
    const { repo, publicKey, importer } = await twoVersions();
    const source = await new RepositoryResolver().resolve({ url: repo, importer, version });
    expect(Buffer.from(source.bytes).toString()).toContain(`// version ${expected}`);
    expect(source.origin).toEqual({
      repository: pathToFileURL(repo).href,
      version: expected,
      pinned,
      signer: publicKey,
    });
    expect(source.location).toBe(`${pathToFileURL(repo).href}/versions/${expected}/files/net.cvl`);
  });

  it("accepts the right pinned key and refuses another, naming both keys", async () => {
    const { repo, publicKey, importer, base } = await twoVersions();
    await expect(
      new RepositoryResolver().resolve({ url: repo, importer, key: publicKey }),
    ).resolves.toBeTruthy();
    const other = await loadOrCreatePublisherKey(join(base, "other.key"));
    const failure = await new RepositoryResolver()
      .resolve({ url: repo, importer, key: other.publicKey })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ImportFailure);
    expect((failure as Error).message).toContain(publicKey);
    expect((failure as Error).message).toContain(other.publicKey);
  });

  it.each([
    ["a version that does not exist", { version: "7" }, /has no version 7/],
    ["a version that is not a number", { version: "latest" }, /not a positive whole number/],
    ["a CVL file the version does not have", { cvl: "other.cvl" }, /has no CVL file "other.cvl"/],
    ["a malformed key", { key: "ed25519:short" }, /is not an ed25519 public key/],
  ])("fails with an ImportFailure for %s", async (_label, extra, message) => {
    const { repo, importer } = await twoVersions();
    await expect(new RepositoryResolver().resolve({ url: repo, importer, ...extra })).rejects.toThrow(
      message,
    );
  });
});
