/**
 * One HTTP GET with the guards a repository fetch needs: a connect timeout, an idle timeout that covers
 * the whole exchange (headers and every gap between body chunks), redirects followed only within the
 * same origin, and a body that is read as a stream. Retrying, resuming and checking lengths is the
 * caller's job (http-transport.ts); this file turns one request into one answer or one clear error.
 */
import type { ClientRequest, Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import { type Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { httpBadResponse, httpForeignRedirect, httpTimeout, httpUnreachable } from "./http-errors.js";

export interface ExchangeOptions {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly headers?: Record<string, string>;
  readonly agents?: { readonly http: HttpAgent; readonly https: HttpsAgent };
  readonly signal?: AbortSignal | undefined;
}

export interface Exchange {
  /** The URL that answered, after same-origin redirects. */
  readonly url: URL;
  readonly status: number;
  readonly statusText: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** The body's chunks; a connection lost mid-body throws BrokenTransfer. Iterate once. */
  chunks(): AsyncIterable<Buffer>;
  /** Drops the rest of the body (and the connection). */
  discard(): void;
}

/** The connection broke mid-body: worth resuming, unlike a timeout or a refusal. */
export class BrokenTransfer extends Error {
  override readonly name = "BrokenTransfer";
}

const maxRedirects = 5;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);

export async function httpGet(url: URL, options: ExchangeOptions): Promise<Exchange> {
  let current = url;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const exchange = await singleGet(current, options);
    const location = exchange.headers.location;
    if (!redirectStatuses.has(exchange.status) || location === undefined) return exchange;
    exchange.discard();
    const next = new URL(location, current);
    if (next.origin !== url.origin) throw httpForeignRedirect(current, next.href);
    current = next;
  }
  throw httpBadResponse(url, `more than ${maxRedirects} redirects`);
}

function singleGet(url: URL, options: ExchangeOptions): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === "https:";
    const request = (https ? httpsRequest : httpRequest)(url, {
      method: "GET",
      headers: { "accept-encoding": "identity", "user-agent": "collective-cui", ...options.headers },
      agent: https ? options.agents?.https : options.agents?.http,
      signal: options.signal,
    });
    const watchdog = new Watchdog(options.idleTimeoutMs, () =>
      target().destroy(httpTimeout(url, options.idleTimeoutMs, "idle")),
    );
    let response: IncomingMessage | undefined;
    const target = (): ClientRequest | IncomingMessage => response ?? request;

    request.once("socket", (socket) => {
      if (!socket.connecting) return watchdog.kick();
      const connectTimer = setTimeout(
        () => request.destroy(httpTimeout(url, options.connectTimeoutMs, "connect")),
        options.connectTimeoutMs,
      );
      socket.once("connect", () => {
        clearTimeout(connectTimer);
        watchdog.kick();
      });
      socket.once("close", () => clearTimeout(connectTimer));
    });
    request.once("error", (error: NodeJS.ErrnoException) => {
      watchdog.stop();
      reject(mapRequestError(url, error, options.signal));
    });
    request.once("response", (incoming) => {
      response = incoming;
      watchdog.kick();
      resolve({
        url,
        status: incoming.statusCode ?? 0,
        statusText: incoming.statusMessage,
        headers: incoming.headers,
        chunks: () => readChunks(url, incoming, watchdog, options.signal),
        discard: () => {
          watchdog.stop();
          incoming.destroy();
        },
      });
    });
    request.end();
  });
}

async function* readChunks(
  url: URL,
  response: IncomingMessage,
  watchdog: Watchdog,
  signal: AbortSignal | undefined,
): AsyncIterable<Buffer> {
  try {
    for await (const chunk of response) {
      watchdog.kick();
      yield chunk as Buffer;
    }
    // A body cut short on a closed connection ends without an error on some Node versions.
    if (!response.complete) throw new BrokenTransfer(`connection to ${url.origin} closed mid-body`);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof BrokenTransfer || (error instanceof Error && error.name === "CollectiveError"))
      throw error;
    throw new BrokenTransfer(`connection to ${url.origin} broke: ${(error as Error).message}`);
  } finally {
    watchdog.stop();
  }
}

function mapRequestError(url: URL, error: NodeJS.ErrnoException, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (error.name === "CollectiveError") return error;
  if (error.code === "ECONNRESET" || error.code === "EPIPE") {
    return new BrokenTransfer(`connection to ${url.origin} broke: ${error.message}`);
  }
  return httpUnreachable(url, error);
}

/** Fires when kick() has not been called for `ms`: the exchange is stalled. */
class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly ms: number,
    private readonly fire: () => void,
  ) {}

  kick(): void {
    if (this.stopped) return;
    if (this.timer === undefined) {
      this.timer = setTimeout(this.fire, this.ms);
    } else {
      this.timer.refresh();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
