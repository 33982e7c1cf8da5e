/**
 * For tests: an HTTP server on 127.0.0.1 with a port picked by the kernel, whose behaviour each test
 * scripts (honest, slow, lying, truncating), and which records the requests it saw.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TestServer {
  readonly url: string;
  readonly requests: Array<{ url: string; range: string | undefined }>;
  close(): Promise<void>;
}

export type TestHandler = (request: IncomingMessage, response: ServerResponse, count: number) => void;

export async function startTestServer(handler: TestHandler): Promise<TestServer> {
  const requests: TestServer["requests"] = [];
  const server: Server = createServer((request, response) => {
    requests.push({ url: request.url ?? "", range: request.headers.range });
    handler(request, response, requests.length);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers a GET for `body` honestly, including single Range requests, as a static server would. */
export function serveBytes(body: Buffer, request: IncomingMessage, response: ServerResponse): void {
  const match = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
  if (match === null) {
    response.writeHead(200, { "content-length": body.length, etag: '"v1"' });
    response.end(body);
    return;
  }
  const start = Number(match[1]);
  const last = match[2] === "" ? body.length - 1 : Math.min(Number(match[2]), body.length - 1);
  if (start >= body.length) {
    response.writeHead(416, { "content-range": `bytes */${body.length}` });
    response.end();
    return;
  }
  response.writeHead(206, {
    "content-length": last - start + 1,
    "content-range": `bytes ${start}-${last}/${body.length}`,
    etag: '"v1"',
  });
  response.end(body.subarray(start, last + 1));
}
