import { randomBytes } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { BrokenTransfer, HttpClient, type RequestOptions, type Response } from "./http-connection.js";

/**
 * A TCP server that speaks whatever each test scripts, byte for byte: `answer` gets each request's
 * head (split at the blank line), the connection's number and its socket.
 */
interface RawServer {
  readonly url: string;
  readonly connections: number;
  readonly closedConnections: number;
  close(): Promise<void>;
}

let server: (RawServer & { server: Server; sockets: Set<Socket> }) | undefined;
const client = new HttpClient({ maxIdlePerOrigin: 4 });
const options: RequestOptions = { connectTimeoutMs: 2000, idleTimeoutMs: 2000 };

afterEach(async () => {
  client.close();
  await server?.close();
  server = undefined;
});

async function startRawServer(answer: (request: string, connection: number, socket: Socket) => void) {
  let connections = 0;
  let closedConnections = 0;
  const sockets = new Set<Socket>();
  const tcp = createServer((socket) => {
    const number = ++connections;
    sockets.add(socket);
    socket.on("close", () => {
      closedConnections++;
      sockets.delete(socket);
    });
    socket.on("error", () => {});
    let pending = "";
    socket.on("data", (data) => {
      pending += data.toString("latin1");
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const request = pending.slice(0, end);
        pending = pending.slice(end + 4);
        answer(request, number, socket);
      }
    });
  });
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
  const port = (tcp.address() as { port: number }).port;
  server = {
    url: `http://127.0.0.1:${port}`,
    server: tcp,
    sockets,
    get connections() {
      return connections;
    },
    get closedConnections() {
      return closedConnections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        tcp.close(() => resolve());
      }),
  };
  return server;
}

/** GETs `path` and reads the whole body (copied: the client lends its read buffer). */
async function fetchBody(path: string, requestOptions: RequestOptions = options) {
  const response = await client.get(new URL(path, server!.url), requestOptions);
  const parts: Buffer[] = [];
  await response.readBody((bytes) => {
    parts.push(Buffer.from(bytes));
    return undefined;
  });
  return { status: response.status, headers: response.headers, body: Buffer.concat(parts) };
}

/**
 * Reads a body into `into` as a range fetch does: through the sink, and straight into `into` where the
 * client can. `progress` says, as it goes, how many bytes arrived and how many of them in place.
 */
function readInto(
  response: Response,
  into: Buffer,
): { reading: Promise<void>; progress: { got: number; inPlace: number } } {
  const progress = { got: 0, inPlace: 0 };
  const reading = response.readBody(
    (bytes) => {
      into.set(bytes, progress.got);
      progress.got += bytes.length;
      return undefined;
    },
    {
      room: () => into.subarray(progress.got),
      filled: (count) => {
        progress.got += count;
        progress.inPlace += count;
      },
    },
  );
  return { reading, progress };
}

const ok = (body: Buffer | string): Buffer =>
  Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`),
    Buffer.from(body),
  ]);

describe("HttpClient", () => {
  it("sends a plain GET and keeps the connection for the next request", async () => {
    const requests: string[] = [];
    await startRawServer((request, _n, socket) => {
      requests.push(request);
      socket.write(ok(`you asked ${request.split(" ")[1]}`));
    });
    expect((await fetchBody("/a")).body.toString()).toBe("you asked /a");
    expect((await fetchBody("/b?x")).body.toString()).toBe("you asked /b?x");
    expect(server!.connections).toBe(1);
    expect(requests[0]).toMatch(/^GET \/a HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\n/);
    expect(requests[0]).toContain("\r\naccept-encoding: identity");
  });

  it("reads a large chunked body exactly, in pieces of any size", async () => {
    const body = randomBytes(300_000);
    await startRawServer((_request, _n, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (let at = 0; at < body.length; at += 7001) {
        const piece = body.subarray(at, at + 7001);
        socket.write(`${piece.length.toString(16)}\r\n`);
        socket.write(piece);
        socket.write("\r\n");
      }
      socket.write("0\r\n\r\n");
    });
    expect((await fetchBody("/chunked")).body.equals(body)).toBe(true);
    expect((await fetchBody("/again")).body.equals(body)).toBe(true);
    expect(server!.connections).toBe(1);
  });

  it("keeps a body that arrives before anyone reads it (more than one read buffer of it)", async () => {
    const body = randomBytes(1 << 20);
    await startRawServer((_request, _n, socket) => socket.write(ok(body)));
    const response = await client.get(new URL("/late", server!.url), options);
    await sleep(100); // the whole answer has arrived; the socket is paused meanwhile
    const parts: Buffer[] = [];
    await response.readBody((bytes) => {
      parts.push(Buffer.from(bytes));
      return undefined;
    });
    expect(Buffer.concat(parts).equals(body)).toBe(true);
  });

  it("reads a framed body straight into the reader's buffer, after what came with the head", async () => {
    const body = randomBytes(3 << 20);
    await startRawServer((_request, _n, socket) => {
      // The head with a little of the body, then the rest in pieces, some after a pause.
      const head = Buffer.from(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(Buffer.concat([head, body.subarray(0, 1000)]));
      setTimeout(() => {
        for (let at = 1000; at < body.length; at += 300_001) socket.write(body.subarray(at, at + 300_001));
      }, 20);
    });
    for (const round of [1, 2]) {
      const response = await client.get(new URL(`/range${round}`, server!.url), options);
      const into = Buffer.alloc(body.length);
      const { reading, progress } = readInto(response, into);
      await reading;
      expect(progress.got).toBe(body.length);
      expect(into.equals(body)).toBe(true);
      expect(progress.inPlace).toBeGreaterThan(body.length / 2); // most of it never went through the sink
    }
    expect(server!.connections).toBe(1); // kept alive: the second answer read on the same connection
  });

  it("reads in place no further than the framed body, though the reader has more room", async () => {
    const body = randomBytes(500_000);
    await startRawServer((_request, _n, socket) => {
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\n\r\n`);
      // The body and bytes it did not frame, in one write after a pause (so they come in one read).
      setTimeout(() => socket.write(Buffer.concat([body, Buffer.from("GARBAGE")])), 20);
    });
    const response = await client.get(new URL("/over", server!.url), options);
    const into = Buffer.alloc(body.length + 1000, 0);
    const { reading, progress } = readInto(response, into);
    await reading;
    expect(progress.got).toBe(body.length);
    expect(into.subarray(0, body.length).equals(body)).toBe(true);
    expect(into.subarray(body.length).every((byte) => byte === 0)).toBe(true);
  });

  it("says a body cut off while it is read in place is a broken transfer, keeping what arrived", async () => {
    const body = randomBytes(1 << 20);
    await startRawServer((_request, _n, socket) => {
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\n\r\n`);
      setTimeout(() => socket.end(body.subarray(0, 600_000)), 20);
    });
    const response = await client.get(new URL("/cut", server!.url), options);
    const into = Buffer.alloc(body.length);
    const { reading, progress } = readInto(response, into);
    await expect(reading).rejects.toBeInstanceOf(BrokenTransfer);
    expect(progress.got).toBe(600_000);
    expect(into.subarray(0, 600_000).equals(body.subarray(0, 600_000))).toBe(true);
  });

  it("repeats a request on a new connection when the server drops a kept-alive one unanswered", async () => {
    let requestsOnFirst = 0;
    await startRawServer((_request, n, socket) => {
      // The race every keep-alive client meets: the server closes an idle connection just as a request
      // comes in on it. The request is repeated on a new connection, not reported as a failure.
      if (n === 1 && ++requestsOnFirst === 2) return socket.destroy();
      socket.write(ok(`connection ${n}`));
    });
    expect((await fetchBody("/1")).body.toString()).toBe("connection 1");
    expect((await fetchBody("/2")).body.toString()).toBe("connection 2");
    expect(server!.connections).toBe(2);
  });

  it("does not keep a connection the server closed while it was idle", async () => {
    await startRawServer((_request, n, socket) => {
      socket.write(ok(`connection ${n}`));
      if (n === 1) setTimeout(() => socket.end(), 20); // the server's idle timeout
    });
    expect((await fetchBody("/1")).body.toString()).toBe("connection 1");
    await sleep(100);
    expect((await fetchBody("/2")).body.toString()).toBe("connection 2");
    expect(server!.connections).toBe(2);
  });

  it("says a body cut off by a closed connection is a broken transfer", async () => {
    await startRawServer((_request, _n, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
      setTimeout(() => socket.destroy(), 20);
    });
    const failure = await fetchBody("/cut").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BrokenTransfer);
    expect((failure as Error).message).toBe(
      `the connection closed with 91 bytes of the body still to come (${server!.url})`,
    );
  });

  it("names the URL and the problem when the answer is not HTTP", async () => {
    await startRawServer((_request, _n, socket) => socket.write("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
    await expect(fetchBody("/x")).rejects.toMatchObject({
      name: "CollectiveError",
      message: expect.stringContaining(`${server!.url}/x`),
    });
    await expect(fetchBody("/x")).rejects.toThrow(/not an HTTP\/1\.x status line: "SSH-2\.0-OpenSSH_9\.2"/);
  });

  it("does not reuse a connection whose body the reader stopped, nor one that sent more than it framed", async () => {
    await startRawServer((request, _n, socket) => {
      if (request.startsWith("GET /extra ")) socket.write(Buffer.concat([ok("ab"), Buffer.from("junk")]));
      else socket.write(ok(randomBytes(500_000)));
    });
    const response = await client.get(new URL("/stop", server!.url), options);
    let seen = 0;
    await response.readBody((bytes) => {
      seen += bytes.length;
      return false;
    });
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(500_000);
    expect((await fetchBody("/extra")).body.toString()).toBe("ab");
    expect((await fetchBody("/after")).body.length).toBe(500_000);
    expect(server!.connections).toBe(3);
  });

  it("passes on an error the reader throws, and drops the connection", async () => {
    await startRawServer((_request, _n, socket) => socket.write(ok("0123456789")));
    const response = await client.get(new URL("/throw", server!.url), options);
    const mine = new Error("too much");
    await expect(
      response.readBody(() => {
        throw mine;
      }),
    ).rejects.toBe(mine);
    await sleep(20);
    expect(server!.closedConnections).toBe(1);
  });

  it("stops at once on an abort, with the signal's reason, and closes the connection", async () => {
    await startRawServer((_request, _n, socket) =>
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
    );
    const controller = new AbortController();
    const response = await client.get(new URL("/slow", server!.url), {
      ...options,
      signal: controller.signal,
    });
    const reading = response.readBody(() => undefined);
    const reason = new Error("user pressed Ctrl-C");
    controller.abort(reason);
    await expect(reading).rejects.toBe(reason);
    await sleep(20);
    expect(server!.closedConnections).toBe(1);
  });

  it("reaches a server at an IPv6 literal, sending its bracketed host", async () => {
    const v6 = createHttpServer((request, response) => {
      response.writeHead(200, { "content-length": Buffer.byteLength(request.headers.host ?? "") });
      response.end(request.headers.host);
    });
    await new Promise<void>((resolve) => v6.listen(0, "::1", resolve));
    try {
      const { port } = v6.address() as { port: number };
      const response = await client.get(new URL(`http://[::1]:${port}/x`), options);
      let body = "";
      await response.readBody((bytes) => {
        body += Buffer.from(bytes).toString();
        return undefined;
      });
      expect(body).toBe(`[::1]:${port}`);
    } finally {
      client.close();
      await new Promise<void>((resolve) => v6.close(() => resolve()));
    }
  });

  it("gives up on a server that goes silent mid-body, naming the URL", async () => {
    await startRawServer((_request, _n, socket) =>
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
    );
    await expect(fetchBody("/stall", { ...options, idleTimeoutMs: 100 })).rejects.toMatchObject({
      name: "CollectiveError",
      message: expect.stringContaining(`${server!.url}/stall`),
    });
  });
});
