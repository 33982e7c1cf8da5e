/**
 * One HTTP GET with the guards a repository fetch needs: a connect timeout, an idle timeout that covers
 * the whole exchange (headers and every gap in the body), redirects followed only within the same origin,
 * and a body read into the caller's sink. Retrying, resuming and checking lengths is the caller's job
 * (http-transport.ts); the connection and the protocol are http-connection.ts's. This file turns one
 * request into one answer or one clear error.
 */

import type { BodySink, HttpClient, RequestOptions } from "./http-connection.js";
import { httpBadResponse, httpForeignRedirect } from "./http-errors.js";

export { BrokenTransfer } from "./http-connection.js";

export interface Exchange {
  /** The URL that answered, after same-origin redirects. */
  readonly url: URL;
  readonly status: number;
  readonly statusText: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Reads the body into `sink`, which sees each piece only during the call (copy what you keep);
   * returning false stops. A connection lost mid-body rejects with BrokenTransfer. Once.
   */
  readBody(sink: BodySink): Promise<void>;
  /** Drops the rest of the body (and the connection, unless the body had all arrived). */
  discard(): void;
}

const maxRedirects = 5;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);

export async function httpGet(client: HttpClient, url: URL, options: RequestOptions): Promise<Exchange> {
  let current = url;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const response = await client.get(current, options);
    const location = response.headers.location;
    if (!redirectStatuses.has(response.status) || location === undefined)
      return { ...response, url: current };
    response.discard();
    const next = new URL(location, current);
    if (next.origin !== url.origin) throw httpForeignRedirect(current, next.href);
    current = next;
  }
  throw httpBadResponse(url, `more than ${maxRedirects} redirects`);
}
