import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { serveBytes, startTestServer, type TestHandler, type TestServer } from "./http-test-server.js";
import { HttpTransport, type HttpTransportOptions } from "./http-transport.js";

const body = randomBytes(1 << 20);
let server: TestServer | undefined;
let transport: HttpTransport | undefined;

afterEach(async () => {
  transport?.close();
  await server?.close();
  server = undefined;
  transport = undefined;
});

async function setUp(handler: TestHandler, options: HttpTransportOptions = {}): Promise<HttpTransport> {
  server = await startTestServer(handler);
  transport = new HttpTransport(`${server.url}/repos/dns`, { retryDelayMs: 5, ...options });
  return transport;
}

describe("HttpTransport against an honest server", () => {
  it("reads whole files and names the file it could not find", async () => {
    const t = await setUp((request, response) => {
      if (request.url === "/repos/dns/repo.json") return serveBytes(body, request, response);
      response.writeHead(404).end();
    });
    expect(Buffer.from(await t.readFile("repo.json")).equals(body)).toBe(true);
    await expect(t.readFile("versions/7/manifest")).rejects.toMatchObject({
      code: "REPO_NOT_FOUND",
      message: `${server!.url}/repos/dns/versions/7/manifest not found (HTTP 404)`,
    });
  });

  it("fetches many small ranges exactly, in few requests", async () => {
    const t = await setUp((request, response) => serveBytes(body, request, response));
    const ranges = Array.from({ length: 500 }, (_, i) => ({
      offset: (i * 2053) % (body.length - 4096),
      length: 4096,
    }));
    const parts = await t.readRanges("packs/p1.pack", ranges);
    ranges.forEach((range, i) => {
      expect(Buffer.from(parts[i]!).equals(body.subarray(range.offset, range.offset + range.length))).toBe(
        true,
      );
    });
    expect(server!.requests.length).toBeLessThanOrEqual(4);
    expect(server!.requests.every((r) => r.range?.startsWith("bytes="))).toBe(true);
  });

  it("still gets the right bytes from a server that ignores Range", async () => {
    const t = await setUp((_request, response) => {
      response.writeHead(200, { "content-length": body.length });
      response.end(body);
    });
    const [part] = await t.readRanges("p.pack", [{ offset: 700_000, length: 10 }]);
    expect(Buffer.from(part!).equals(body.subarray(700_000, 700_010))).toBe(true);
  });

  it("follows a redirect within the same origin", async () => {
    const t = await setUp((request, response) => {
      if (request.url === "/repos/dns/repo.json") {
        response.writeHead(301, { location: "/moved/repo.json" }).end();
        return;
      }
      serveBytes(body, request, response);
    });
    expect((await t.readFile("repo.json")).length).toBe(body.length);
  });

  it("reads a file of several MiB whole, counting each byte once, and one without a length too", async () => {
    const big = randomBytes(5 << 20);
    const t = await setUp((request, response) => {
      if (request.url?.endsWith("/sized")) return serveBytes(big, request, response);
      response.writeHead(200); // chunked: no length to read into
      response.end(big);
    });
    expect(Buffer.from(await t.readFile("sized")).equals(big)).toBe(true);
    expect(t.bytesReceived).toBe(big.length);
    expect(Buffer.from(await t.readFile("unsized")).equals(big)).toBe(true);
    expect(t.bytesReceived).toBe(2 * big.length);
  });
});

describe("HttpTransport against a bad server", () => {
  it("reports a server that does not answer as a timeout naming the URL", async () => {
    const t = await setUp(() => {}, { idleTimeoutMs: 200 });
    await expect(t.readFile("repo.json")).rejects.toMatchObject({
      code: "REPO_HTTP_TIMEOUT",
      message: `timed out fetching ${server!.url}/repos/dns/repo.json: no data from the server for 200 ms`,
    });
  });

  it("reports a server that stalls mid-body as a timeout", async () => {
    const t = await setUp(
      (_request, response) => {
        response.writeHead(200, { "content-length": 1000 });
        response.write(Buffer.alloc(10));
      },
      { idleTimeoutMs: 200, retries: 0 },
    );
    await expect(t.readFile("repo.json")).rejects.toMatchObject({ code: "REPO_HTTP_TIMEOUT" });
  });

  it("reports a refused connection", async () => {
    const t = await setUp(() => {});
    const port = new URL(server!.url).port;
    await server!.close();
    server = undefined;
    await expect(t.readFile("repo.json")).rejects.toMatchObject({
      code: "REPO_HTTP_UNREACHABLE",
      message: `cannot fetch http://127.0.0.1:${port}/repos/dns/repo.json: connection refused (ECONNREFUSED)`,
    });
  });

  it("refuses a redirect to another host", async () => {
    const t = await setUp((_request, response) => {
      response.writeHead(302, { location: "http://localhost:1/evil/repo.json" }).end();
    });
    await expect(t.readFile("repo.json")).rejects.toMatchObject({
      code: "REPO_HTTP_REDIRECT",
      message: `${server!.url}/repos/dns/repo.json redirects to another host (http://localhost:1/evil/repo.json); refusing to follow it`,
    });
  });

  it("caps whole-file reads, whether or not the server declares the size", async () => {
    const t = await setUp((request, response) => {
      if (request.url?.endsWith("declared")) {
        response.writeHead(200, { "content-length": 10_000_000 }).end();
        return;
      }
      response.writeHead(200); // chunked, endless garbage
      const pump = () => response.write(randomBytes(65536), () => setImmediate(pump));
      pump();
    });
    await expect(t.readFile("declared", { maxBytes: 1000 })).rejects.toMatchObject({
      code: "REPO_HTTP_TOO_LARGE",
    });
    await expect(t.readFile("garbage", { maxBytes: 100_000 })).rejects.toThrow(
      /garbage is larger than the 100000 bytes allowed for it/,
    );
  });

  it("rejects a range answer for other bytes than asked", async () => {
    const t = await setUp((_request, response) => {
      response.writeHead(206, { "content-range": "bytes 0-9/100", "content-length": 10 });
      response.end(Buffer.alloc(10));
    });
    await expect(t.readRanges("p.pack", [{ offset: 50, length: 10 }])).rejects.toMatchObject({
      code: "REPO_HTTP_BAD_RESPONSE",
      message: `bad answer from ${server!.url}/repos/dns/p.pack: asked for bytes 50-59, got 0-9`,
    });
  });

  it("says so when a pack is shorter than its index claims", async () => {
    const t = await setUp((request, response) => serveBytes(body.subarray(0, 100), request, response));
    await expect(t.readRanges("p.pack", [{ offset: 90, length: 20 }])).rejects.toThrow(
      /the file has 100 bytes, fewer than the 110 the repository's index expects/,
    );
  });

  it("resumes a broken transfer from where it stopped", async () => {
    const t = await setUp((request, response, count) => {
      if (count === 1) {
        response.writeHead(200, { "content-length": body.length, etag: '"v1"' });
        response.write(body.subarray(0, 300_000), () => response.destroy());
        return;
      }
      serveBytes(body, request, response);
    });
    expect(Buffer.from(await t.readFile("big")).equals(body)).toBe(true);
    expect(server!.requests[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(server!.requests[1]!.range!)![0])).toBeGreaterThan(0);
  });

  it("resumes a broken range transfer with a range from where it stopped", async () => {
    const t = await setUp((request, response, count) => {
      if (count === 1) {
        response.writeHead(206, {
          "content-length": 100_000,
          "content-range": `bytes 1000-100999/${body.length}`,
          etag: '"v1"',
        });
        response.write(body.subarray(1000, 41_000), () => response.destroy());
        return;
      }
      serveBytes(body, request, response);
    });
    const [part] = await t.readRanges("p.pack", [{ offset: 1000, length: 100_000 }]);
    expect(Buffer.from(part!).equals(body.subarray(1000, 101_000))).toBe(true);
    expect(server!.requests[1]?.range).toMatch(/^bytes=(\d+)-100999$/);
    expect(server!.requests[1]?.range).not.toBe("bytes=1000-100999");
  });

  it("gives up on a server that always truncates, saying how far it got", async () => {
    const t = await setUp(
      (_request, response) => {
        response.writeHead(200, { "content-length": 1000 });
        response.write(Buffer.alloc(500), () => response.destroy());
      },
      { retries: 2 },
    );
    await expect(t.readFile("repo.json")).rejects.toMatchObject({ code: "REPO_HTTP_TRUNCATED" });
    expect(server!.requests.length).toBe(3);
  });

  it("retries a 503 and succeeds", async () => {
    const t = await setUp((request, response, count) => {
      if (count === 1) return void response.writeHead(503).end();
      serveBytes(body, request, response);
    });
    expect((await t.readFile("repo.json")).length).toBe(body.length);
  });

  it("refuses paths that leave the repository", async () => {
    const t = await setUp(() => {});
    expect(() => t.fileUrl("../other/repo.json")).toThrow(/unsafe repository file path/);
    expect(t.fileUrl("packs/a b.pack").href).toBe(`${server!.url}/repos/dns/packs/a%20b.pack`);
  });
});
