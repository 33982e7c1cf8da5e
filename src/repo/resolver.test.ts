import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ImportFailure } from "../cvl/resolver.js";
import { startTestServer, type TestServer } from "./http-test-server.js";
import { loadOrCreatePublisherKey } from "./keys.js";
import { publish } from "./publish.js";
import { makeRepository, TempDirs } from "./repo-test-kit.js";
import { RepositoryResolver } from "./resolver.js";
import { withdrawVersion } from "./withdraw.js";

const temp = new TempDirs();
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  temp.cleanup();
});

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
  return { base, repo, publicKey, importer, keyPath };
}

/**
 * Serves `repo` over HTTP; `misbehave` answers a request itself (returning true) or leaves it to the
 * honest answer: the file, or 404.
 */
async function serveRepo(
  repo: string,
  misbehave: (path: string, response: ServerResponse, file: Buffer | undefined) => boolean = () => false,
): Promise<string> {
  server = await startTestServer((request, response) => {
    const path = decodeURIComponent((request.url ?? "").replace(/^\/repo\//, ""));
    let file: Buffer | undefined;
    try {
      file = readFileSync(join(repo, path));
    } catch {}
    if (misbehave(path, response, file)) return;
    if (file === undefined) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, { "content-length": file.length });
    response.end(file);
  });
  return `${server.url}/repo`;
}

const htmlPage = (response: ServerResponse): true => {
  response.writeHead(200, { "content-type": "text/html" });
  response.end("<html><body>Welcome!</body></html>");
  return true;
};

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

  it("names the pinned key's format when the key is malformed", async () => {
    const { repo, importer } = await twoVersions();
    await expect(
      new RepositoryResolver().resolve({ url: repo, importer, key: "ed25519:short" }),
    ).rejects.toThrow(/key => "ed25519:short" is not an ed25519 public key.*as `cui create` prints them/);
  });

  it("says what to do when the pinned key does not match", async () => {
    const { repo, importer, base } = await twoVersions();
    const other = await loadOrCreatePublisherKey(join(base, "other.key"));
    await expect(
      new RepositoryResolver().resolve({ url: repo, importer, key: other.publicKey }),
    ).rejects.toThrow(/check the key with its publisher/);
  });

  it("keeps the advice of a malformed repository URL", async () => {
    const { importer } = await twoVersions();
    const failure = await new RepositoryResolver()
      .resolve({ url: "http://127.0.0.1:1/repo?x=1", importer })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ImportFailure);
    expect((failure as Error).message).toMatch(/has no query or fragment.*Remove the part from \? or #/);
  });

  it("says every version is withdrawn, not that there are none, when all are", async () => {
    const { repo, importer, keyPath } = await twoVersions();
    await withdrawVersion(repo, 1, keyPath, "old");
    await withdrawVersion(repo, 2, keyPath, "CVE-2026-0001");
    const failure = await new RepositoryResolver().resolve({ url: repo, importer }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ImportFailure);
    expect((failure as Error).message).toMatch(/both versions of .* are withdrawn/);
    expect((failure as Error).message).toContain("CVE-2026-0001");
    expect((failure as Error).message).not.toContain("no versions yet");
  });

  it("says a version's CVL file was altered, and how to check the repository", async () => {
    const { repo, importer } = await twoVersions();
    appendFileSync(join(repo, "versions/2/files/net.cvl"), "// changed\n");
    await expect(new RepositoryResolver().resolve({ url: repo, importer })).rejects.toThrow(
      /version 2: file net.cvl does not match its hash in the manifest.*do not use this version.*cui repo verify/,
    );
  });

  it("blames latest.json when it names a version the repository does not have", async () => {
    const { repo, importer } = await twoVersions();
    writeFileSync(join(repo, "latest.json"), JSON.stringify({ version: 99999999999999 }));
    await expect(new RepositoryResolver().resolve({ url: repo, importer })).rejects.toThrow(
      /has no version 99999999999999 \(or its signature is missing\), though its latest\.json names it as the newest/,
    );
  });
});

describe("the repository import resolver against misbehaving servers", () => {
  it("stops probing for newer versions at a page that is not a manifest (a server answering 200 to everything)", async () => {
    const { repo, importer } = await twoVersions();
    const url = await serveRepo(repo, (_path, response, file) => file === undefined && htmlPage(response));
    const source = await new RepositoryResolver().resolve({ url, importer });
    expect(source.origin?.version).toBe(2);
    expect(server!.requests.length).toBeLessThan(20);
  }, 10_000);

  it("names the URL when latest.json is not JSON", async () => {
    const { repo, importer } = await twoVersions();
    const url = await serveRepo(repo, (path, response) => path === "latest.json" && htmlPage(response));
    const failure = await new RepositoryResolver().resolve({ url, importer }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ImportFailure);
    expect((failure as Error).message).toMatch(
      new RegExp(`^${url}: latest\\.json is not valid JSON \\(it begins "<html>.*\\(.*server`),
    );
  });

  it("gives up on a server that trickles its answer, naming the file it was fetching", async () => {
    const { repo, importer } = await twoVersions();
    const url = await serveRepo(repo, (path, response) => {
      if (path !== "repo.json") return false;
      response.writeHead(200, { "content-length": 100_000 });
      const timer = setInterval(() => response.write(" "), 50);
      response.on("close", () => clearInterval(timer));
      return true;
    });
    const started = performance.now();
    const failure = await new RepositoryResolver({ deadlineMs: 1_000 })
      .resolve({ url, importer })
      .catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(failure).toBeInstanceOf(ImportFailure);
    expect((failure as Error).message).toMatch(
      new RegExp(`gave up on ${url} after 1 s, still fetching ${url}/repo\\.json`),
    );
  }, 15_000);
});
