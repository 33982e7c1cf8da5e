import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileTransport } from "./file-transport.js";
import { serveBytes, startTestServer } from "./http-test-server.js";
import { openTransport } from "./open-transport.js";

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-open-transport-"));
  await mkdir(join(scratch, "dns", "packs"), { recursive: true });
  await writeFile(join(scratch, "dns", "repo.json"), "{}");
  await writeFile(join(scratch, "dns", "packs", "p.pack"), "0123456789");
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("openTransport", () => {
  it("picks the transport by the location's form", () => {
    expect(openTransport("https://apps.example.org/dns/").url).toBe("https://apps.example.org/dns");
    expect(openTransport(pathToFileURL(join(scratch, "dns")).href)).toBeInstanceOf(FileTransport);
    const relative = openTransport("dns", { baseDir: scratch });
    expect(relative.url).toBe(pathToFileURL(join(scratch, "dns")).href);
  });

  it("reads an http repository's files and ranges, counting the bytes received", async () => {
    const body = Buffer.from("0123456789");
    const server = await startTestServer((request, response) => serveBytes(body, request, response));
    try {
      const http = openTransport(`${server.url}/dns`);
      expect(http.url).toBe(`${server.url}/dns`);
      expect(http.bytesReceived).toBe(0);
      expect((await http.readFile("packs/p.pack")).toString()).toBe("0123456789");
      const parts = await http.readRanges("packs/p.pack", [{ offset: 8, length: 2 }]);
      expect(parts.map((part) => Buffer.from(part).toString())).toEqual(["89"]);
      expect(http.bytesReceived).toBe(12);
      expect(server.requests.map((request) => request.url)).toEqual([
        "/dns/packs/p.pack",
        "/dns/packs/p.pack",
      ]);
      await expect(http.readFile("../secret")).rejects.toThrow(/unsafe repository file path/);
    } finally {
      await server.close();
    }
  });

  it.each([
    ["http://", /not a repository URL/],
    ["ftp://example.org/dns", /the scheme ftp: is not supported/],
    // Without "//" these were taken for relative paths.
    ["mailto:ops@example.org", /the scheme mailto: is not supported/],
    ["data:text/plain,x", /the scheme data: is not supported/],
    ["", /it is empty/],
    ["http://example.org/dns?x=1", /a repository URL has no query or fragment/],
  ])("refuses %j", (location, message) => {
    expect(() => openTransport(location)).toThrow(message);
  });
});

describe("FileTransport", () => {
  it("reads files and ranges, and names what is missing or too large", async () => {
    const transport = new FileTransport(join(scratch, "dns"));
    expect(Buffer.from(await transport.readFile("repo.json")).toString()).toBe("{}");
    const parts = await transport.readRanges("packs/p.pack", [
      { offset: 8, length: 2 },
      { offset: 0, length: 3 },
    ]);
    expect(parts.map((part) => Buffer.from(part).toString())).toEqual(["89", "012"]);
    await expect(transport.readFile("latest.json")).rejects.toMatchObject({
      code: "REPO_NOT_FOUND",
      message: `${join(scratch, "dns", "latest.json")} not found`,
    });
    await expect(transport.readFile("packs/p.pack", { maxBytes: 4 })).rejects.toThrow(
      /is 10 bytes, more than the 4 allowed/,
    );
    await expect(transport.readRanges("packs/p.pack", [{ offset: 5, length: 10 }])).rejects.toThrow(
      /has fewer bytes than the repository's index expects \(wanted 5-14\)/,
    );
    await expect(transport.readFile("../secret")).rejects.toThrow(/unsafe repository file path/);
  });
});
