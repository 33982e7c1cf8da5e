/** The chain of import resolvers and the local file resolver, on urls and paths that are not CVL files. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ChainResolver, ImportFailure, LocalFileResolver } from "./resolver.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "collective-cvl-resolver-"));
  dirs.push(dir);
  return dir;
}

const chain = () => new ChainResolver([new LocalFileResolver()]);

describe("importing what is not a CVL file", () => {
  it.each([
    ["a FIFO", (dir: string) => execFileSync("mkfifo", [join(dir, "pipe.cvl")]), "pipe.cvl", /is a FIFO/],
    ["a device", () => undefined, "/dev/zero", /\/dev\/zero is a character device, not a CVL file/],
  ])(
    "refuses %s at once instead of reading it forever",
    async (_label, make, url, message) => {
      const dir = tempDir();
      make(dir);
      const failure = await chain()
        .resolve({ url, importer: join(dir, "site.cvl") })
        .catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ImportFailure);
      expect((failure as Error).message).toMatch(message);
    },
    5_000,
  );

  it("reads a plain file as before", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "web.cvl"), 'CVL = "0.8";\n');
    const source = await chain().resolve({ url: "web.cvl", importer: join(dir, "site.cvl") });
    expect(Buffer.from(source.bytes).toString()).toBe('CVL = "0.8";\n');
  });

  it("says a file from a repository cannot import a relative path", async () => {
    await expect(
      chain().resolve({
        url: "../lib/web.cvl",
        importer: "https://example.org/dns/versions/3/files/dns.cvl",
      }),
    ).rejects.toThrow(
      /"\.\.\/lib\/web\.cvl" is a relative path, but https:\/\/example\.org\/dns\/versions\/3\/files\/dns\.cvl came from a repository.*absolute URL/,
    );
  });

  it("says a file:// URL naming another host is not a file on this machine", async () => {
    const failure = await chain()
      .resolve({ url: "file://otherhost/srv/web.cvl", importer: "/tmp/site.cvl" })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ImportFailure);
    expect((failure as Error).message).toMatch(/names the host otherhost.*file:\/\/\/srv\/web\.cvl/);
  });
});
