/**
 * RepoTransport over HTTP(S): any static web server that honours Range, or `cui repo serve`.
 *
 * What makes it safe to point at an untrusted or flaky server: timeouts on connecting and on silence
 * (http-connection.ts), redirects only within the same origin (http-exchange.ts), a size cap on
 * whole-file reads, and lengths checked against what was asked for (Content-Range, Content-Length, the
 * bytes actually received). What makes it fast: keep-alive connections that read into one reused buffer
 * each (http-connection.ts), several requests in flight, bodies copied straight into the caller's
 * buffer, and many small chunk ranges merged into few requests (range-coalesce.ts). A transfer that breaks mid-body resumes from the byte where it
 * stopped instead of starting over. Content is not verified here: chunks and manifests are hashed and
 * signature-checked by the layers above.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { CollectiveError } from "../errors.js";
import { entryPathSegments } from "../fs-safety/entry-path.js";
import { type BodyTarget, HttpClient } from "./http-connection.js";
import {
  display,
  httpBadResponse,
  httpStatus,
  httpTooLarge,
  httpTruncated,
  httpUnreachable,
} from "./http-errors.js";
import { BrokenTransfer, type Exchange, httpGet } from "./http-exchange.js";
import { repositoryBase } from "./http-url.js";
import { mapConcurrent } from "./map-concurrent.js";
import {
  type CoalesceLimits,
  coalesceRanges,
  defaultCoalesceLimits,
  invalidRange,
} from "./range-coalesce.js";
import type { ByteRange, ReadRangesOptions, RepoTransport } from "./transport.js";

export interface HttpTransportOptions {
  /** Give up connecting after this long. */
  readonly connectTimeoutMs?: number;
  /** Give up when the server sends nothing for this long (before the headers or mid-body). */
  readonly idleTimeoutMs?: number;
  /** readFile's size cap when the caller gives none. */
  readonly maxFileBytes?: number;
  /** How many times a broken transfer or a 5xx answer is retried (resuming where it stopped). */
  readonly retries?: number;
  /** First pause before a retry; doubled each time. */
  readonly retryDelayMs?: number;
  readonly coalesce?: CoalesceLimits;
  /** Requests in flight at once for readRanges. */
  readonly concurrency?: number;
  /** Extra trusted CA certificates (PEM) for https, e.g. a private repository server's. */
  readonly ca?: string | Buffer;
}

const defaults = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxFileBytes: 64 * 1024 * 1024,
  retries: 3,
  retryDelayMs: 200,
  concurrency: 4,
};
const retryableStatuses = new Set([429, 500, 502, 503, 504]);

export class HttpTransport implements RepoTransport {
  readonly url: string;
  /** Body bytes received so far (including gaps between merged ranges), for transfer statistics. */
  bytesReceived = 0;
  private readonly base: URL;
  private readonly settings: typeof defaults & { coalesce: CoalesceLimits };
  private readonly client: HttpClient;

  constructor(url: string, options: HttpTransportOptions = {}) {
    this.base = repositoryBase(url);
    this.url = this.base.href.replace(/\/$/, "");
    this.settings = { ...defaults, coalesce: defaultCoalesceLimits, ...withoutUndefined(options) };
    this.client = new HttpClient({ maxIdlePerOrigin: this.settings.concurrency, ca: options.ca });
  }

  /** The URL of one file of the repository; the path is checked so it cannot leave the repository. */
  fileUrl(path: string): URL {
    const segments = entryPathSegments(path, "repository file path");
    return new URL(segments.map(encodeURIComponent).join("/"), this.base);
  }

  async readFile(path: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    const url = this.fileUrl(path);
    const maxBytes = options.maxBytes ?? this.settings.maxFileBytes;
    let parts: Buffer[] = [];
    let whole: Buffer | undefined;
    let received = 0;
    let expected: number | undefined;
    let validator: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const resuming = received > 0;
      const exchange = await this.get(
        url,
        resuming ? { range: `bytes=${received}-` } : {},
        options.signal,
        attempt,
      );
      if (exchange === undefined) continue;
      try {
        if (exchange.status === 206 && resuming) {
          const range = parseContentRange(
            exchange,
            received,
            expected === undefined ? undefined : expected - 1,
          );
          if (expected !== undefined && range.total !== expected)
            throw httpBadResponse(url, "the file changed size");
          checkValidator(exchange, validator);
        } else if (exchange.status === 200) {
          parts = [];
          whole = undefined;
          received = 0;
          expected = contentLength(exchange);
          validator = validatorOf(exchange);
          if (expected !== undefined && expected > maxBytes) throw httpTooLarge(url, expected, maxBytes);
        } else {
          throw httpBadResponse(
            url,
            `unexpected HTTP ${exchange.status} to ${resuming ? "a resumed" : "a plain"} GET`,
          );
        }
        // With the size known the body is read straight into place, as ranges are (no 64 KiB pieces to copy
        // for a pack index of megabytes); else piece by piece, joined at the end.
        whole ??= expected === undefined ? undefined : Buffer.allocUnsafe(expected);
        const into = whole;
        const target: BodyTarget | undefined =
          into === undefined
            ? undefined
            : {
                room: () => into.subarray(received),
                filled: (count) => {
                  this.bytesReceived += count;
                  received += count;
                },
              };
        await exchange.readBody((chunk) => {
          this.bytesReceived += chunk.length;
          if (received + chunk.length > maxBytes) throw httpTooLarge(url, undefined, maxBytes);
          if (whole !== undefined && received + chunk.length <= whole.length) whole.set(chunk, received);
          else parts.push(Buffer.from(chunk));
          received += chunk.length;
          return undefined;
        }, target);
      } catch (error) {
        exchange.discard();
        if (!(error instanceof BrokenTransfer)) throw error;
        if (attempt >= this.settings.retries)
          throw httpTruncated(url, received, expected ?? received, attempt + 1);
        await this.pause(attempt, options.signal);
        continue;
      }
      if (expected !== undefined && received !== expected) {
        if (attempt >= this.settings.retries) throw httpTruncated(url, received, expected, attempt + 1);
        continue;
      }
      if (whole !== undefined && parts.length === 0) return whole.subarray(0, received);
      return Buffer.concat(whole === undefined ? parts : [whole, ...parts], received);
    }
  }

  async readRanges(
    path: string,
    ranges: readonly ByteRange[],
    options: ReadRangesOptions = {},
  ): Promise<Uint8Array[]> {
    const url = this.fileUrl(path);
    for (const range of ranges) {
      const invalid = invalidRange(range);
      if (invalid !== undefined)
        throw new CollectiveError("INTERNAL_RANGE", `bad range for ${display(url)}: ${invalid}`);
    }
    const spans = coalesceRanges(ranges, this.settings.coalesce);
    const results = new Array<Uint8Array>(ranges.length);
    await mapConcurrent(
      spans,
      this.settings.concurrency,
      async (span, signal) => {
        const out = options.allocate?.(span.length) ?? Buffer.allocUnsafe(span.length);
        const bytes = await this.readSpan(url, span.offset, span.length, out, signal);
        for (const member of span.members) {
          const length = ranges[member.index]!.length;
          results[member.index] = bytes.subarray(member.offsetInSpan, member.offsetInSpan + length);
        }
      },
      options.signal,
    );
    return results;
  }

  /** Closes idle keep-alive connections. The transport stays usable (new connections are opened). */
  close(): void {
    this.client.close();
  }

  /** Fetches bytes [offset, offset+length) exactly, resuming after breaks. */
  private async readSpan(
    url: URL,
    offset: number,
    length: number,
    out: Buffer,
    signal: AbortSignal,
  ): Promise<Buffer> {
    let got = 0;
    let validator: string | undefined;
    for (let attempt = 0; got < length; attempt++) {
      const start = offset + got;
      const last = offset + length - 1;
      const exchange = await this.get(url, { range: `bytes=${start}-${last}` }, signal, attempt);
      if (exchange === undefined) continue;
      try {
        let skip = 0;
        if (exchange.status === 206) {
          parseContentRange(exchange, start, last);
        } else if (exchange.status === 200) {
          skip = start; // the server ignores Range: read past the bytes before the span
        } else if (exchange.status === 416) {
          throw httpBadResponse(url, `bytes ${start}-${last} lie beyond the end of the file (HTTP 416)`);
        } else {
          throw httpBadResponse(url, `unexpected HTTP ${exchange.status} to a Range request`);
        }
        if (attempt > 0) checkValidator(exchange, validator);
        validator ??= validatorOf(exchange);
        // A range's bytes are read straight into `out` where they can (no copy, over HTTP and HTTPS), the
        // rest (what came with the head, a server ignoring Range) through the sink below.
        const target: BodyTarget | undefined =
          exchange.status !== 206
            ? undefined
            : {
                room: () => out.subarray(got, length),
                filled: (count) => {
                  this.bytesReceived += count;
                  got += count;
                },
              };
        await exchange.readBody((chunk) => {
          this.bytesReceived += chunk.length;
          const useful = skip >= chunk.length ? undefined : chunk.subarray(skip);
          skip = Math.max(0, skip - chunk.length);
          if (useful === undefined) return undefined;
          const take = Math.min(useful.length, length - got);
          if (take < useful.length && exchange.status === 206) {
            throw httpBadResponse(
              url,
              `more bytes than the ${last - start + 1} requested from offset ${start}`,
            );
          }
          out.set(take === useful.length ? useful : useful.subarray(0, take), got);
          got += take;
          // A server ignoring Range sends the whole file: stop reading once the span is complete.
          return !(got === length && exchange.status === 200);
        }, target);
      } catch (error) {
        exchange.discard();
        if (!(error instanceof BrokenTransfer)) throw error;
      }
      if (got < length) {
        if (attempt >= this.settings.retries) throw httpTruncated(url, got, length, attempt + 1);
        await this.pause(attempt, signal);
      }
    }
    return out.subarray(0, length);
  }

  /** One GET; undefined means "a retryable failure happened, try again" (after the pause it took). */
  private async get(
    url: URL,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    attempt: number,
  ): Promise<Exchange | undefined> {
    let exchange: Exchange;
    try {
      exchange = await httpGet(this.client, url, {
        connectTimeoutMs: this.settings.connectTimeoutMs,
        idleTimeoutMs: this.settings.idleTimeoutMs,
        headers,
        signal,
      });
    } catch (error) {
      if (!(error instanceof BrokenTransfer) || attempt >= this.settings.retries) throw unwrap(url, error);
      await this.pause(attempt, signal);
      return undefined;
    }
    if (exchange.status < 400 || exchange.status === 416) return exchange;
    exchange.discard();
    if (!retryableStatuses.has(exchange.status) || attempt >= this.settings.retries) {
      throw httpStatus(url, exchange.status, exchange.statusText);
    }
    await this.pause(attempt, signal);
    return undefined;
  }

  private async pause(attempt: number, signal: AbortSignal | undefined): Promise<void> {
    await sleep(this.settings.retryDelayMs * 2 ** attempt, undefined, signal ? { signal } : {});
  }
}

/** Checks a 206 answer's Content-Range against the request; `last` undefined means "to the end". */
function parseContentRange(
  exchange: Exchange,
  start: number,
  last: number | undefined,
): { start: number; last: number; total: number | undefined } {
  const header = exchange.headers["content-range"];
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header ?? "");
  if (match === null)
    throw httpBadResponse(exchange.url, `a 206 answer without a valid Content-Range (${header})`);
  const range = {
    start: Number(match[1]),
    last: Number(match[2]),
    total: match[3] === "*" ? undefined : Number(match[3]),
  };
  if (range.start !== start || (last !== undefined && range.last !== last)) {
    const asked = `${start}-${last ?? ""}`;
    const shortFile = range.total !== undefined && last !== undefined && range.total <= last;
    throw httpBadResponse(
      exchange.url,
      shortFile
        ? `the file has ${range.total} bytes, fewer than the ${last + 1} the repository's index expects`
        : `asked for bytes ${asked}, got ${range.start}-${range.last}`,
    );
  }
  const length = contentLength(exchange);
  if (length !== undefined && length !== range.last - range.start + 1) {
    throw httpBadResponse(exchange.url, `Content-Length ${length} does not match Content-Range ${header}`);
  }
  return range;
}

function contentLength(exchange: Exchange): number | undefined {
  const header = exchange.headers["content-length"];
  if (header === undefined) return undefined;
  if (!/^\d+$/.test(header))
    throw httpBadResponse(exchange.url, `invalid Content-Length ${JSON.stringify(header)}`);
  return Number(header);
}

function validatorOf(exchange: Exchange): string | undefined {
  return exchange.headers.etag ?? exchange.headers["last-modified"];
}

/** A resumed transfer must continue the same file, not a new one that replaced it meanwhile. */
function checkValidator(exchange: Exchange, before: string | undefined): void {
  const now = validatorOf(exchange);
  if (before !== undefined && now !== undefined && now !== before) {
    throw httpBadResponse(exchange.url, "the file changed on the server during the transfer");
  }
}

function unwrap(url: URL, error: unknown): unknown {
  return error instanceof BrokenTransfer ? httpUnreachable(url, error) : error;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
