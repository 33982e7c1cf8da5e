import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { type ClientRequest, type IncomingMessage, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpTransport } from "./http-transport.js";
import { selfSignedCertificate } from "./repo-test-kit.js";
import { type RepoServer, startRepoServer } from "./serve.js";

let scratch: string;
let root: string;
let server: RepoServer;
const pack = Buffer.alloc(300_000, 7);

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-serve-"));
  root = join(scratch, "root");
  for (const repo of ["dns", "web/mail"]) {
    await mkdir(join(root, repo, "packs"), { recursive: true });
    await mkdir(join(root, repo, "tmp"), { recursive: true });
    await writeFile(join(root, repo, "repo.json"), `{"repo":"${repo}"}`);
    await writeFile(join(root, repo, "packs", "p1.pack"), pack);
    await writeFile(join(root, repo, "tmp", "half.pack"), "unfinished");
  }
  await writeFile(join(scratch, "secret"), "secret");
  await writeFile(join(root, ".htpasswd"), "hidden");
  await symlink(join(scratch, "secret"), join(root, "dns", "escape"));
  await symlink("repo.json", join(root, "dns", "alias.json"));
  server = await startRepoServer({ root, host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await server?.close(100);
  await rm(scratch, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request, so paths reach the server exactly as written (clients would normalize "..") */
function raw(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
  base = server.url,
): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** A GET whose response `react` may pause or cut short; resolves with the body bytes that arrived. */
function receive(
  path: string,
  react: (response: IncomingMessage, req: ClientRequest) => void,
): Promise<Buffer> {
  const url = new URL(server.url);
  return new Promise((resolve) => {
    const req = request({ host: url.hostname, port: url.port, path }, (response) => {
      const parts: Buffer[] = [];
      response.on("data", (chunk: Buffer) => parts.push(chunk));
      response.on("close", () => resolve(Buffer.concat(parts)));
      react(response, req);
    });
    req.on("error", () => resolve(Buffer.alloc(0))); // refused, or cut short by `react`
    req.end();
  });
}

describe("cui repo serve", () => {
  it("serves several repositories under one root", async () => {
    expect((await raw("/dns/repo.json")).body.toString()).toBe('{"repo":"dns"}');
    const mail = await raw("/web/mail/repo.json");
    expect(mail.body.toString()).toBe('{"repo":"web/mail"}');
    expect(mail.headers["content-type"]).toBe("application/json");
    expect(mail.headers["cache-control"]).toBe("no-cache");
  });

  it("answers Range, HEAD and conditional requests as a static server does", async () => {
    const part = await raw("/dns/packs/p1.pack", { range: "bytes=10-19" });
    expect(part.status).toBe(206);
    expect(part.headers["content-range"]).toBe(`bytes 10-19/${pack.length}`);
    expect(part.body.equals(pack.subarray(10, 20))).toBe(true);
    const head = await raw("/dns/packs/p1.pack", {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(pack.length));
    expect(head.body.length).toBe(0);
    const etag = String(head.headers.etag);
    expect((await raw("/dns/packs/p1.pack", { "if-none-match": etag })).status).toBe(304);
    const since = String(head.headers["last-modified"]);
    expect((await raw("/dns/packs/p1.pack", { "if-modified-since": since })).status).toBe(304);
    expect((await raw("/dns/packs/p1.pack", { range: "bytes=0-0", "if-range": '"other"' })).status).toBe(200);
    const beyond = await raw("/dns/packs/p1.pack", { range: `bytes=${pack.length}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers["content-range"]).toBe(`bytes */${pack.length}`);
    expect((await raw("/dns/repo.json", {}, "DELETE")).status).toBe(405);
  });

  it("sends files of several MiB to clients at once, whole and in ranges, byte for byte", async () => {
    // Random bytes: a read buffer reused before its bytes were sent would show as wrong bytes.
    const big = randomBytes(3 << 20);
    await writeFile(join(root, "dns", "packs", "random.pack"), big);
    const ranges: Array<[number, number]> = [
      [0, big.length - 1],
      [1, 262_145],
      [262_143, 2_000_000],
      [big.length - 10, big.length - 1],
    ];
    const answers = await Promise.all([
      raw("/dns/packs/random.pack"),
      raw("/dns/packs/random.pack"),
      ...ranges.map(([first, last]) => raw("/dns/packs/random.pack", { range: `bytes=${first}-${last}` })),
    ]);
    expect(answers[0]!.body.equals(big)).toBe(true);
    expect(answers[1]!.body.equals(big)).toBe(true);
    ranges.forEach(([first, last], k) => {
      expect(answers[2 + k]!.body.equals(big.subarray(first, last + 1)), `bytes ${first}-${last}`).toBe(true);
    });
  });

  it("sends a client that reads slowly the right bytes (nothing reused before the socket took it)", async () => {
    // More than the kernel's socket buffers on loopback hold (a few MiB), so that writes wait in the server.
    const big = randomBytes(24 << 20);
    await writeFile(join(root, "dns", "packs", "slow.pack"), big);
    // Not read for a while: the server's writes queue up behind full socket buffers meanwhile.
    const body = await receive("/dns/packs/slow.pack", (response) => {
      response.pause();
      setTimeout(() => response.resume(), 300);
    });
    expect(body.equals(big)).toBe(true);
  });

  it("stops sending to a client that hangs up mid-body, and serves the next ones whole", async () => {
    const big = randomBytes(4 << 20);
    await writeFile(join(root, "dns", "packs", "hangup.pack"), big);
    const cut = await receive("/dns/packs/hangup.pack", (response, req) => {
      response.once("data", () => req.destroy()); // after the first piece
    });
    expect(cut.length).toBeLessThan(big.length);
    const after = await Promise.all([raw("/dns/packs/hangup.pack"), raw("/dns/packs/hangup.pack")]);
    for (const answer of after) expect(answer.body.equals(big)).toBe(true);
  });

  it.each([
    ["a .. path", "/dns/../../secret"],
    ["an encoded .. path", "/dns/%2e%2e/%2e%2e/secret"],
    ["an encoded slash and ..", "/dns%2f..%2f..%2fsecret"],
    ["a symlink out of the root", "/dns/escape"],
    ["a directory", "/dns/packs"],
    ["a dotfile", "/.htpasswd"],
    ["a repository's tmp/", "/web/mail/tmp/half.pack"],
    ["a malformed escape", "/dns/%zz"],
    ["a NUL byte", "/dns/repo.json%00"],
  ])("refuses %s with 404", async (_what, path) => {
    const answer = await raw(path);
    expect(answer.status).toBe(404);
    expect(answer.body.toString()).not.toContain("secret");
  });

  it("follows a symlink that stays inside", async () => {
    expect((await raw("/dns/alias.json")).body.toString()).toBe('{"repo":"dns"}');
  });

  it("is what HttpTransport fetches from", async () => {
    const transport = new HttpTransport(`${server.url}/web/mail`);
    const [a, b] = await transport.readRanges("packs/p1.pack", [
      { offset: 5, length: 5 },
      { offset: 299_990, length: 10 },
    ]);
    transport.close();
    expect(Buffer.from(a!).equals(pack.subarray(5, 10))).toBe(true);
    expect(Buffer.from(b!).equals(pack.subarray(299_990))).toBe(true);
  });

  it("finishes a transfer in flight when asked to stop", async () => {
    const local = await startRepoServer({ root, host: "127.0.0.1", port: 0 });
    const transport = new HttpTransport(`${local.url}/dns`);
    const reading = transport.readFile("packs/p1.pack");
    await new Promise((resolve) => setTimeout(resolve, 5));
    await local.close(5_000);
    expect(Buffer.from(await reading).equals(pack)).toBe(true);
    transport.close();
    await expect(raw("/dns/repo.json", {}, "GET", local.url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("serves HTTPS with a given certificate", async () => {
    const { cert, key } = selfSignedCertificate(scratch, "cert");
    const { readFile } = await import("node:fs/promises");
    const certPem = await readFile(cert);
    const tls = await startRepoServer({
      root,
      host: "127.0.0.1",
      port: 0,
      tls: { cert: certPem, key: await readFile(key) },
    });
    try {
      expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const transport = new HttpTransport(`${tls.url}/dns`, { ca: certPem });
      expect(Buffer.from(await transport.readFile("repo.json")).toString()).toBe('{"repo":"dns"}');
      // Ranges of a pack, read over TLS as over plain HTTP (each body into the caller's buffer).
      const big = randomBytes(3 << 20);
      await writeFile(join(root, "dns", "packs", "big.pack"), big);
      const ranges = [
        { offset: 5, length: 5 },
        { offset: 1000, length: 2_000_000 },
        { offset: 2_500_000, length: big.length - 2_500_000 },
      ];
      const parts = await transport.readRanges("packs/big.pack", ranges);
      ranges.forEach(({ offset, length }, i) => {
        expect(Buffer.from(parts[i]!).equals(big.subarray(offset, offset + length))).toBe(true);
      });
      transport.close();
      const untrusting = new HttpTransport(`${tls.url}/dns`, { retries: 0 });
      await expect(untrusting.readFile("repo.json")).rejects.toMatchObject({ code: "REPO_HTTP_UNREACHABLE" });
      untrusting.close();
    } finally {
      await tls.close(100);
    }
  });
});
