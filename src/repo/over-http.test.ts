/** Reading a repository over HTTP: versions, verify, import resolution and a channel, through `cui repo serve`. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildChannel, readChannel } from "./channel.js";
import { HttpTransport } from "./http-transport.js";
import { publish } from "./publish.js";
import { RepoReader } from "./repo-reader.js";
import { containerCvl, makeRepository, TempDirs } from "./repo-test-kit.js";
import { RepositoryResolver } from "./resolver.js";
import { type RepoServer, startRepoServer } from "./serve.js";
import { verifyRepository } from "./verify.js";
import { listVersions } from "./versions.js";

const temp = new TempDirs();
let server: RepoServer | undefined;
afterEach(async () => {
  await server?.close(0);
  server = undefined;
  temp.cleanup();
});

async function served() {
  const base = temp.make("http");
  const app = join(base, "app");
  mkdirSync(join(app, "rootfs"), { recursive: true });
  writeFileSync(join(app, "rootfs", "data"), Buffer.alloc(200_000, 3));
  const { repo, keyPath, publicKey } = await makeRepository(base);
  const cvl = containerCvl(app, "rootfs");
  await publish({ repoDir: repo, cvlPath: cvl, keyPath });
  writeFileSync(join(app, "rootfs", "more"), "more\n");
  await publish({ repoDir: repo, cvlPath: cvl, keyPath });
  server = await startRepoServer({ root: base, host: "127.0.0.1", port: 0 });
  return { base, repo, publicKey, url: `${server.url.replace(/\/$/, "")}/repo` };
}

describe("a repository over HTTP", () => {
  it("lists, verifies and resolves the same as on disk", async () => {
    const { url, publicKey, base } = await served();
    const transport = new HttpTransport(url);
    try {
      const reader = new RepoReader(transport);
      expect((await listVersions(reader)).map((v) => [v.version, v.signer])).toEqual([
        [1, publicKey],
        [2, publicKey],
      ]);
      const report = await verifyRepository(reader);
      expect(report.problems).toEqual([]);
      expect(report.versions).toBe(2);
    } finally {
      transport.close();
    }
    const source = await new RepositoryResolver().resolve({
      url,
      importer: join(base, "user.cvl"),
      key: publicKey,
    });
    expect(source.origin).toMatchObject({ repository: url, version: 2, pinned: false });
    expect(Buffer.from(source.bytes).toString()).toContain("extends ContainerAppliance");
  });

  it("reports a corrupted chunk served over HTTP", async () => {
    const { url, repo } = await served();
    const id = JSON.parse(readFileSync(join(repo, "versions/1/manifest.json"), "utf8")).packs[0] as string;
    const pack = `${id}.pack`;
    const bytes = readFileSync(join(repo, "packs", pack));
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(join(repo, "packs", pack), bytes);
    const transport = new HttpTransport(url);
    try {
      const report = await verifyRepository(new RepoReader(transport));
      expect(report.problems.length).toBeGreaterThan(0);
      expect(report.problems[0]).toMatchObject({ repository: url, version: 1, pack: pack.slice(0, -5) });
    } finally {
      transport.close();
    }
  });

  it("builds a channel from an http repository and reads it back over http", async () => {
    const { url, base } = await served();
    const { xml } = await buildChannel([url], "Test channel");
    writeFileSync(join(base, "channel.xml"), xml);
    const channel = await readChannel(`${server!.url.replace(/\/$/, "")}/channel.xml`);
    expect(channel.title).toBe("Test channel");
    expect(channel.items.map((i) => [i.name, i.version, i.repository])).toEqual([
      ["App", 2, url],
      ["App", 1, url],
    ]);
  });
});
