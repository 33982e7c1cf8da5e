/**
 * One HTTP GET with the guards a repository fetch needs: a connect timeout, an idle timeout that covers
 * the whole exchange (headers and every gap in the body), redirects followed only within the same origin,
 * and a body read into the caller's sink. Retrying, resuming and checking lengths is the caller's job
 * (http-transport.ts); the connection and the protocol are http-connection.ts's. This file turns one
 * request into one answer or one clear error.
 */

import type { HttpClient, RequestOptions, Response } from "./http-connection.js";
import { httpBadResponse, httpForeignRedirect } from "./http-errors.js";

export { BrokenTransfer } from "./http-connection.js";

/** An answer (http-connection.ts's Response: status, headers, the body lent to a sink) and where it came from. */
export interface Exchange extends Response {
  /** The URL that answered, after same-origin redirects. */
  readonly url: URL;
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
