import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileTransport } from "./file-transport.js";
import { RepoReader } from "./repo-reader.js";
import { publishedRepository, TempDirs } from "./repo-test-kit.js";
import { RepositoryResolver } from "./resolver.js";
import { listVersions } from "./versions.js";
import { withdrawVersion } from "./withdraw.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

describe("withdrawing a version", () => {
  it("lists it as withdrawn, keeps it readable, and resolves latest to the version before", async () => {
    const { base, repo, keyPath } = await publishedRepository(temp.make("withdraw"), 2);
    await withdrawVersion(repo, 2, keyPath, "broken");
    const reader = new RepoReader(new FileTransport(repo));
    expect((await listVersions(reader)).map((v) => [v.version, v.withdrawn])).toEqual([
      [1, false],
      [2, true],
    ]);
    await expect(reader.manifest(2)).resolves.toMatchObject({ version: 2 });
    const source = await new RepositoryResolver().resolve({ url: repo, importer: join(base, "x.cvl") });
    expect(source.origin?.version).toBe(1);
    expect(readFileSync(join(repo, "feed.xml"), "utf8")).toContain(
      "<collective:withdrawn>true</collective:withdrawn>",
    );
  });

  it("ignores a withdrawal notice that is not signed by the publisher", async () => {
    const { repo } = await publishedRepository(temp.make("withdraw"), 2);
    const id = JSON.parse(readFileSync(join(repo, "repo.json"), "utf8")).id;
    mkdirSync(join(repo, "withdrawals"));
    writeFileSync(
      join(repo, "withdrawals/2.json"),
      JSON.stringify({ repository: id, version: 2, date: "2026-01-01" }),
    );
    writeFileSync(
      join(repo, "withdrawals/2.sig"),
      JSON.stringify({ algorithm: "ed25519", key: "ed25519:x", signature: "AAAA" }),
    );
    const reader = new RepoReader(new FileTransport(repo));
    expect(await reader.isWithdrawn(2)).toBe(false);
  });
});
