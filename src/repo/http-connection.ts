/**
 * A small HTTP/1.1 client for repository fetches: keep-alive connections per origin, one GET at a time
 * on each, read into one reused buffer per connection.
 *
 * Why not node:http: it reads every socket chunk into freshly allocated memory, and on this kind of
 * virtual machine touching a fresh page costs about 12 µs (docs/benchmarks.md, seventh pass); a 53 MiB
 * pack took 250 ms to download that way and 45 ms with one reused read buffer (`onread` of net and tls).
 * The price is that body bytes are lent, not given: a body's sink sees a view that is valid only during
 * the call, and copies what it keeps. A caller can skip even that copy: with a BodyTarget,
 * the socket reads a body framed by Content-Length straight into the caller's buffer (a range's bytes
 * into the download buffer), and only what came with the head goes through the sink.
 *
 * Guards (timeouts, same-origin redirects, retries) stay in http-exchange.ts and http-transport.ts;
 * this file turns one request into one answer, or one error: a BrokenTransfer when the connection broke
 * (worth resuming), a StaleConnection when a kept-alive connection turned out closed before it answered
 * (the request is repeated once on a new connection, transparently).
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { CollectiveError } from "../errors.js";
import { httpBadResponse, httpTimeout, httpUnreachable } from "./http-errors.js";
import { type ResponseHead, ResponseParser } from "./http-response-parser.js";

export interface RequestOptions {
  readonly connectTimeoutMs: number;
  /** Fails the exchange when the server sends nothing for this long (before the head or mid-body). */
  readonly idleTimeoutMs: number;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal | undefined;
}

/** Receives body bytes: a view valid only during the call. Returning false stops reading. */
export type BodySink = (bytes: Uint8Array) => boolean | undefined;

/** Where the body's next bytes belong in the caller's memory, for the socket to read them straight there. */
export interface BodyTarget {
  /** The free room that the next body bytes fill from its start (its length caps one read). */
  room(): Uint8Array;
  /** `count` body bytes were read into the start of the last room(). */
  filled(count: number): void;
}

export interface Response extends ResponseHead {
  /**
   * Reads the whole body into `sink` (and straight into `target` where it can: a body
   * framed by Content-Length, after the bytes that came with the head); resolves when it is complete (or
   * the sink stopped it). Once.
   */
  readBody(sink: BodySink, target?: BodyTarget): Promise<void>;
  /** Drops the rest of the body (and so the connection, unless the body was complete). */
  discard(): void;
}

/** The connection broke mid-answer: worth resuming, unlike a timeout or a refusal. */
export class BrokenTransfer extends Error {
  override readonly name = "BrokenTransfer";
}

/**
 * The connection ended before any byte of the answer: on a kept-alive connection, the server had closed
 * it meanwhile (the request is repeated on a new one); on a new connection, `cause` is the error.
 */
class StaleConnection extends Error {
  constructor(readonly failure: unknown) {
    super("the connection ended before the answer");
  }
}

/** Size of each connection's read buffer: what one socket read can bring. */
const readBufferBytes = 64 * 1024;

export interface HttpClientOptions {
  /** Idle connections kept per origin for later requests. */
  readonly maxIdlePerOrigin: number;
  /** Extra trusted CA certificates (PEM) for https: they replace the default ones, as in node:tls. */
  readonly ca?: string | Buffer | undefined;
}

export class HttpClient {
  private readonly idle = new Map<string, Connection[]>();

  constructor(private readonly options: HttpClientOptions) {}

  /** One GET of `url`; resolves at the answer's head. */
  async get(url: URL, options: RequestOptions): Promise<Response> {
    const request = requestText(url, options.headers ?? {});
    for (;;) {
      options.signal?.throwIfAborted();
      const reused = this.takeIdle(url.origin);
      const connection = reused ?? (await Connection.open(url, this.options.ca, options));
      try {
        return await connection.request(url, request, options, (reusable) =>
          this.release(connection, reusable),
        );
      } catch (error) {
        if (!(error instanceof StaleConnection)) throw error;
        if (reused === undefined) throw error.failure;
        // else again, on a new connection
      }
    }
  }

  /** Closes idle connections; the client stays usable (new connections are opened). */
  close(): void {
    for (const list of this.idle.values()) for (const connection of list) connection.destroy();
    this.idle.clear();
  }

  private takeIdle(origin: string): Connection | undefined {
    const list = this.idle.get(origin);
    while (list !== undefined && list.length > 0) {
      const connection = list.pop()!;
      if (connection.usable) return connection;
    }
    return undefined;
  }

  private release(connection: Connection, reusable: boolean): void {
    const list = this.idle.get(connection.origin) ?? [];
    if (!reusable || list.length >= this.options.maxIdlePerOrigin) {
      connection.destroy();
      return;
    }
    connection.park(() => {
      const at = list.indexOf(connection);
      if (at >= 0) list.splice(at, 1);
    });
    list.push(connection);
    this.idle.set(connection.origin, list);
  }
}

/** One GET at a time on one socket. */
class Connection {
  readonly origin: string;
  private exchange: ExchangeState | undefined;
  private onParkedClose: (() => void) | undefined;
  private ended = false;

  private constructor(
    url: URL,
    private readonly socket: Socket,
    private readonly buffer: Buffer,
  ) {
    this.origin = url.origin;
    socket.on("error", (error) => this.lost(error));
    socket.on("close", () => this.lost(undefined));
  }

  static open(url: URL, ca: string | Buffer | undefined, options: RequestOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      options.signal?.throwIfAborted();
      const https = url.protocol === "https:";
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1"); // an IPv6 literal without its brackets
      const port = Number(url.port || (https ? 443 : 80));
      const buffer = Buffer.allocUnsafe(readBufferBytes);
      let connection: Connection | undefined;
      const callback = (length: number, into: Uint8Array): boolean => connection!.received(length, into);
      // The buffer for each read is chosen after the one before (net calls the function then): the
      // connection's own, or where the body's next bytes belong (Connection.nextReadBuffer).
      const onread = { buffer: () => connection?.nextReadBuffer() ?? buffer, callback };
      const socket = https
        ? tlsConnect({
            host,
            port,
            ...(isIP(host) === 0 ? { servername: host } : {}),
            ...(ca === undefined ? {} : { ca }),
            ALPNProtocols: ["http/1.1"],
            onread, // supported by tls.connect since Node 15 (nodejs/node#35753), missing from its types
          } as ConnectionOptions)
        : netConnect({ host, port, onread });
      connection = new Connection(url, socket, buffer);
      socket.setNoDelay(true);
      const settle = (error?: unknown): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", abort);
        socket.off(https ? "secureConnect" : "connect", connected);
        socket.off("error", failed);
        if (error === undefined) {
          resolve(connection!);
          return;
        }
        socket.destroy();
        reject(error);
      };
      const connected = (): void => settle();
      const failed = (error: NodeJS.ErrnoException): void => settle(mapSocketError(url, error));
      const abort = (): void => settle(options.signal!.reason);
      const timer = setTimeout(
        () => settle(httpTimeout(url, options.connectTimeoutMs, "connect")),
        options.connectTimeoutMs,
      );
      socket.once(https ? "secureConnect" : "connect", connected);
      socket.once("error", failed);
      options.signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /** Whether the connection can carry a request (it is open and the server has not closed it). */
  get usable(): boolean {
    return !this.ended && !this.socket.destroyed;
  }

  /** Keeps the idle connection without holding the process open; `onClose` if the server closes it. */
  park(onClose: () => void): void {
    this.onParkedClose = onClose;
    this.socket.unref();
  }

  /** Ends the connection (it carries no further request). */
  destroy(): void {
    this.ended = true;
    this.socket.destroy();
  }

  request(
    url: URL,
    text: string,
    options: RequestOptions,
    release: (reusable: boolean) => void,
  ): Promise<Response> {
    this.onParkedClose = undefined;
    this.socket.ref();
    return new Promise<Response>((resolve, reject) => {
      const state = new ExchangeState(this, url, options, resolve, reject, release);
      this.exchange = state;
      this.socket.write(text);
    });
  }

  /**
   * Bytes arrived in `into`: the read buffer, or the exchange's body target (then they are in place).
   * Returns false to pause the socket (a body nobody reads yet).
   */
  private received(length: number, into: Uint8Array): boolean {
    const exchange = this.exchange;
    if (exchange === undefined) {
      // Bytes nobody asked for: the server broke the protocol; this connection is done.
      this.destroy();
      return false;
    }
    if (into !== this.buffer) return exchange.landed(length);
    return exchange.received(this.buffer.subarray(0, length));
  }

  /**
   * Where the next read goes: straight into the exchange's body target while its body has bytes to come,
   * else the connection's buffer. Never an empty buffer (a read into one fails with ENOBUFS).
   */
  nextReadBuffer(): Uint8Array {
    return this.exchange?.landingRoom() ?? this.buffer;
  }

  private lost(error: Error | undefined): void {
    this.ended = true;
    this.onParkedClose?.();
    this.onParkedClose = undefined;
    this.exchange?.lost(error);
  }

  /** Called by the exchange when it is over, to detach it from the socket. */
  detach(state: ExchangeState): void {
    if (this.exchange === state) this.exchange = undefined;
  }

  resume(): void {
    this.socket.resume();
  }
}

/** The state of one request on a connection, from sending it to the end of its body. */
class ExchangeState {
  private readonly parser: ResponseParser;
  private readonly watchdog: Watchdog;
  private headSeen = false;
  private anyByte = false;
  private complete = false;
  private reusable = false;
  private over = false;
  private failure: unknown;
  private sink: BodySink | undefined;
  private target: BodyTarget | undefined;
  /**
   * Body bytes that came before readBody() gave a sink. The socket pauses then, so the read buffer would
   * keep them; they are copied anyway (at most one read's worth), so nothing depends on that.
   */
  private pending: Buffer[] = [];
  private bodyDone: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly url: URL,
    private readonly options: RequestOptions,
    private readonly resolveHead: (response: Response) => void,
    private readonly rejectHead: (error: unknown) => void,
    private readonly release: (reusable: boolean) => void,
  ) {
    this.parser = new ResponseParser({
      head: (head) => this.head(head),
      body: (bytes) => this.body(bytes),
      end: (reusable) => {
        this.complete = true;
        this.reusable = reusable;
      },
    });
    this.watchdog = new Watchdog(options.idleTimeoutMs, () =>
      this.fail(httpTimeout(url, options.idleTimeoutMs, "idle")),
    );
    this.watchdog.kick();
    options.signal?.addEventListener("abort", this.abort, { once: true });
  }

  received(bytes: Uint8Array): boolean {
    if (this.over) return false;
    this.anyByte = true;
    this.watchdog.kick();
    const problem = this.parser.feed(bytes);
    if (problem !== undefined) {
      this.fail(httpBadResponse(this.url, problem));
      return false;
    }
    if (this.complete) {
      // Bytes past the end of the answer mean the server sent more than it framed: no reuse.
      if (this.parser.overrun) this.reusable = false;
      this.settleBody();
      return true;
    }
    // Returning false pauses the socket until readBody() takes what arrived (and resumes it).
    return !(this.sink === undefined && this.headSeen);
  }

  /** Room for the next read straight into the body target, when the body has bytes to come there. */
  landingRoom(): Uint8Array | undefined {
    if (this.over || this.target === undefined || this.pending.length > 0) return undefined;
    const remaining = this.parser.lengthRemaining;
    if (remaining === 0) return undefined;
    const room = this.target.room();
    if (room.length === 0) return undefined;
    return room.length > remaining ? room.subarray(0, remaining) : room;
  }

  /** `length` body bytes were read into the room landingRoom() gave. */
  landed(length: number): boolean {
    if (this.over) return false;
    this.anyByte = true;
    this.watchdog.kick();
    this.target!.filled(length);
    this.parser.skipBody(length);
    if (this.complete) this.settleBody();
    return true;
  }

  lost(error: Error | undefined): void {
    if (this.over) return;
    if (!this.anyByte) {
      // Nothing of the answer came: a kept-alive connection the server had closed, or a refusal.
      const failure =
        error === undefined
          ? new BrokenTransfer(`the connection to ${this.url.origin} closed before the answer`)
          : mapSocketError(this.url, error as NodeJS.ErrnoException);
      this.fail(new StaleConnection(failure));
      return;
    }
    const missing = this.parser.close();
    if (missing === undefined) {
      this.complete = true; // the body ran until the close
      this.reusable = false;
      this.settleBody();
      return;
    }
    this.fail(
      error === undefined
        ? new BrokenTransfer(`${missing} (${this.url.origin})`)
        : mapSocketError(this.url, error as NodeJS.ErrnoException),
    );
  }

  private readonly abort = (): void => this.fail(this.options.signal!.reason);

  private head(head: ResponseHead): void {
    this.headSeen = true;
    this.resolveHead({
      ...head,
      readBody: (sink, target) => this.readBody(sink, target),
      discard: () => this.discard(),
    });
  }

  private body(bytes: Uint8Array): void {
    if (this.over) return;
    if (this.sink === undefined) {
      this.pending.push(Buffer.from(bytes));
      return;
    }
    this.deliver(bytes);
  }

  private deliver(bytes: Uint8Array): void {
    let more: boolean | undefined;
    try {
      more = this.sink!(bytes);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (more === false) this.stop();
  }

  private readBody(sink: BodySink, target?: BodyTarget): Promise<void> {
    if (this.sink !== undefined) throw new CollectiveError("INTERNAL", "a response body was read twice");
    this.sink = sink;
    this.target = target;
    return new Promise<void>((resolve, reject) => {
      this.bodyDone = { resolve, reject };
      if (this.failure !== undefined) return reject(this.failure);
      for (const bytes of this.pending.splice(0)) {
        this.deliver(bytes);
        if (this.over) return;
      }
      if (this.complete) return this.settleBody();
      this.connection.resume();
    });
  }

  /** The sink wants no more: the rest of the body is dropped with the connection. */
  private stop(): void {
    if (this.over) return;
    this.finish(false);
    this.bodyDone?.resolve();
  }

  private discard(): void {
    if (this.over) return;
    this.finish(this.complete && this.reusable);
  }

  /** The body is complete: hand the connection back once a sink has seen it all. */
  private settleBody(): void {
    if (this.over || this.sink === undefined) return;
    this.finish(this.reusable);
    this.bodyDone?.resolve();
  }

  private fail(error: unknown): void {
    if (this.over) return;
    this.failure = error;
    this.finish(false);
    if (!this.headSeen) this.rejectHead(error);
    else this.bodyDone?.reject(error);
  }

  private finish(reusable: boolean): void {
    this.over = true;
    this.watchdog.stop();
    this.options.signal?.removeEventListener("abort", this.abort);
    this.connection.detach(this);
    if (!reusable) this.connection.destroy();
    this.release(reusable);
  }
}

function requestText(url: URL, headers: Record<string, string>): string {
  const all: Record<string, string> = {
    host: url.host,
    "user-agent": "collective-cui",
    "accept-encoding": "identity",
    ...headers,
  };
  let text = `GET ${url.pathname}${url.search} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(all)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\0\r\n]/.test(value))
      throw new CollectiveError("INTERNAL", `an invalid request header ${JSON.stringify(name)}`);
    text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}

function mapSocketError(url: URL, error: NodeJS.ErrnoException): unknown {
  if (error.name === "CollectiveError") return error;
  if (error.code === "ECONNRESET" || error.code === "EPIPE")
    return new BrokenTransfer(`connection to ${url.origin} broke: ${error.message}`);
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
    if (this.timer === undefined) this.timer = setTimeout(this.fire, this.ms);
    else this.timer.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
