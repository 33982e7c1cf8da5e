/**
 * `cui repo serve`: a small static file server for one directory holding one or more repositories, with
 * what a fetching host needs (Range, HEAD, ETag and Last-Modified, conditional requests) and nothing
 * that could leak the rest of the machine: paths are resolved inside the root (symlinks only as far as
 * they stay inside), directories are never listed, dotfiles and a repository's tmp/ and locks/ are hidden.
 * Any other static server (nginx, Apache) serving the same directory works the same for clients.
 */
import { type FileHandle, open, realpath, stat } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname, extname, join } from "node:path";
import { CollectiveError } from "../errors.js";
import { resolveInside } from "../fs-safety/resolve-inside.js";
import { parseRangeHeader } from "./serve-range.js";

export interface RepoServerOptions {
  /** The directory served; repositories may sit anywhere below it. */
  readonly root: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Called once per request with a one-line access log entry: address, method, path, status, body bytes, time. */
  readonly log?: (line: string) => void;
}

export interface RepoServer {
  readonly url: string;
  /** Stops accepting, lets requests in flight finish for up to graceMs, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

const contentTypes: Record<string, string> = {
  ".json": "application/json",
  ".xml": "application/rss+xml",
  ".cvl": "text/plain; charset=utf-8",
  ".sig": "application/json",
};
/** Files rewritten by each publish; everything else in a repository is immutable once written. */
const mutableNames = new Set(["latest.json", "repo.json", "feed.xml"]);
/** A repository's publisher work areas, hidden when they sit beside a repo.json. */
const privateDirectories = new Set(["tmp", "locks"]);

export async function startRepoServer(options: RepoServerOptions): Promise<RepoServer> {
  const realRoot = await realpath(options.root).catch((error: NodeJS.ErrnoException) => {
    throw new CollectiveError("SERVE_ROOT", `cannot serve ${options.root}: ${error.code ?? error.message}`, {
      hint: "Give the directory that holds the repositories (made with `cui create`).",
    });
  });
  if (!(await stat(realRoot)).isDirectory()) {
    throw new CollectiveError("SERVE_ROOT", `cannot serve ${options.root}: not a directory`, {
      hint: "Give the directory that holds the repositories (made with `cui create`).",
    });
  }
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    const started = Date.now();
    response.once("close", () => {
      const sent = request.method === "HEAD" ? 0 : Number(response.getHeader("content-length") ?? 0);
      const line = `${request.socket.remoteAddress ?? "-"} ${request.method} ${request.url} ${response.statusCode} ${sent} ${Date.now() - started}ms`;
      options.log?.(line);
    });
    serveRequest(realRoot, request, response).catch(() => {
      if (!response.headersSent) sendStatus(response, 500);
      else response.destroy();
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : createHttpServer(handler);
  server.keepAliveTimeout = 5_000;
  await listen(server, options);
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${address.port}`,
    close: (graceMs = 10_000) => closeGracefully(server, graceMs),
  };
}

async function serveRequest(
  realRoot: string,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("allow", "GET, HEAD");
    return sendStatus(response, 405);
  }
  const path = decodePath(request.url ?? "/");
  if (path === undefined || isHidden(path) || (await isPrivate(realRoot, path)))
    return sendStatus(response, 404);
  const real = await resolveInside(realRoot, path);
  if (real === undefined) return sendStatus(response, 404);
  let handle: FileHandle;
  try {
    handle = await open(real, "r");
  } catch {
    return sendStatus(response, 404);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return sendStatus(response, 404);
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000).toUTCString();
    response.setHeader("etag", etag);
    response.setHeader("last-modified", lastModified);
    response.setHeader("accept-ranges", "bytes");
    response.setHeader("content-type", contentTypes[extname(real)] ?? "application/octet-stream");
    const name = real.slice(dirname(real).length + 1);
    response.setHeader(
      "cache-control",
      mutableNames.has(name) ? "no-cache" : "public, max-age=31536000, immutable",
    );
    if (notModified(request, etag, info.mtimeMs)) return sendStatus(response, 304);
    const ifRange = request.headers["if-range"];
    const rangeHeader =
      ifRange === undefined || ifRange === etag || ifRange === lastModified
        ? request.headers.range
        : undefined;
    const range = parseRangeHeader(rangeHeader, info.size);
    if (range.kind === "unsatisfiable") {
      response.setHeader("content-range", `bytes */${info.size}`);
      return sendStatus(response, 416);
    }
    const start = range.kind === "partial" ? range.start : 0;
    const last = range.kind === "partial" ? range.last : info.size - 1;
    if (range.kind === "partial") response.setHeader("content-range", `bytes ${start}-${last}/${info.size}`);
    response.setHeader("content-length", Math.max(0, last - start + 1));
    response.writeHead(range.kind === "partial" ? 206 : 200);
    if (request.method === "HEAD" || info.size === 0) {
      response.end();
      return;
    }
    await pipeFile(handle, start, last, response);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Buffers files are read into on their way to a client, reused from one request to the next. A new
 * buffer per read (as a read stream makes) is fresh memory, a page fault per 4 KiB: about 3,300 of them
 * per cold fetch of an image, a quarter of the server's CPU time (docs/benchmarks.md, twelfth pass).
 */
const readBuffers: Buffer[] = [];
const readBufferBytes = 256 * 1024;
/** Enough for a few clients' requests at once (each uses two); more are made when needed, and dropped. */
const keptReadBuffers = 16;

/**
 * Sends bytes start..last of the file: two buffers take turns, one read into while the other is being
 * sent, each reused only once the socket has taken all of it (the write's callback). A client that
 * hangs up stops the reads; the buffers of a response that did not finish are not reused.
 */
async function pipeFile(
  handle: FileHandle,
  start: number,
  last: number,
  response: ServerResponse,
): Promise<void> {
  const buffers = [readBuffers.pop() ?? Buffer.allocUnsafeSlow(readBufferBytes)];
  buffers.push(readBuffers.pop() ?? Buffer.allocUnsafeSlow(readBufferBytes));
  const sending: Array<Promise<boolean>> = [Promise.resolve(true), Promise.resolve(true)];
  let gone = false;
  const hungUp = new Promise<boolean>((resolve) => {
    response.once("close", () => {
      gone = true;
      resolve(false);
    });
  });
  let complete = false;
  try {
    for (let position = start, turn = 0; position <= last; turn ^= 1) {
      if (!(await sending[turn]!) || gone) break; // the client is gone: complete stays false
      const buffer = buffers[turn]!;
      const { bytesRead } = await handle.read(
        buffer,
        0,
        Math.min(buffer.length, last - position + 1),
        position,
      );
      if (bytesRead === 0) throw new Error("the file is shorter than it was"); // truncated meanwhile
      const sent = new Promise<boolean>((resolve) => {
        response.write(buffer.subarray(0, bytesRead), (error) => resolve(error == null));
      });
      sending[turn] = Promise.race([sent, hungUp]);
      position += bytesRead;
    }
    complete = (await sending[0]!) && (await sending[1]!) && !gone;
    if (complete) response.end();
    else response.destroy();
  } catch {
    response.destroy();
  } finally {
    if (complete) {
      for (const buffer of buffers) if (readBuffers.length < keptReadBuffers) readBuffers.push(buffer);
    }
  }
}

/** The URL's path as a relative path, or undefined when it is malformed. Queries are ignored. */
function decodePath(url: string): string | undefined {
  const pathname = url.split("?")[0] ?? "";
  if (!pathname.startsWith("/")) return undefined;
  try {
    return decodeURIComponent(pathname.slice(1));
  } catch {
    return undefined;
  }
}

function isHidden(path: string): boolean {
  return path.split("/").some((segment) => segment.startsWith("."));
}

/** Whether the path goes through a repository's tmp/ or locks/ (a directory beside a repo.json). */
async function isPrivate(realRoot: string, path: string): Promise<boolean> {
  const segments = path.split("/").filter((s) => s !== "");
  for (let i = 0; i < segments.length - 1; i++) {
    if (!privateDirectories.has(segments[i]!)) continue;
    const repoDescriptor = join(realRoot, ...segments.slice(0, i), "repo.json");
    if (
      await stat(repoDescriptor).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

function notModified(request: IncomingMessage, etag: string, mtimeMs: number): boolean {
  const ifNoneMatch = request.headers["if-none-match"];
  if (ifNoneMatch !== undefined)
    return ifNoneMatch.split(",").some((tag) => tag.trim() === etag || tag.trim() === "*");
  const since = request.headers["if-modified-since"];
  if (since === undefined) return false;
  const sinceMs = Date.parse(since);
  return !Number.isNaN(sinceMs) && Math.floor(mtimeMs / 1000) * 1000 <= sinceMs;
}

function sendStatus(response: ServerResponse, status: number): void {
  response.statusCode = status;
  if (status >= 400) response.setHeader("content-type", "text/plain; charset=utf-8");
  response.removeHeader("content-length");
  response.end(status >= 400 ? `${status}\n` : undefined);
}

async function listen(server: Server, options: RepoServerOptions): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new CollectiveError(
          "SERVE_LISTEN",
          `cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`,
          {
            hint:
              error.code === "EADDRINUSE"
                ? "Another process uses that port; pick another with --listen."
                : "Check the address.",
          },
        ),
      ),
    );
    server.listen(options.port, options.host, resolve);
  });
}

async function closeGracefully(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}
