/**
 * An incremental parser of HTTP/1.1 responses (RFC 9112): the status line and headers, then the body
 * framed by Content-Length, chunked transfer coding, or the connection's close. It is fed whatever a
 * socket read brings, in pieces of any size, and hands body bytes on as views of the bytes it was fed
 * (no copy): the fetch path reads into one reused buffer (http-connection.ts), so nothing is allocated
 * per read.
 *
 * It never throws: a malformed response makes feed() return a message saying what was wrong, and the
 * parser stops there. 1xx interim answers are skipped; the caller gets one head, the body, one end.
 */

export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  /** Lower-case names; repeated headers joined with ", " (as RFC 9110 §5.3 allows for lists). */
  readonly headers: Record<string, string>;
}

export interface ResponseEvents {
  head(head: ResponseHead): void;
  /** Body bytes: a view of the fed bytes, valid only during the call. */
  body(bytes: Uint8Array): void;
  /** The body is complete; `reusable` when the connection may carry another request. */
  end(reusable: boolean): void;
}

/** Largest status line plus headers (and chunked trailers) accepted. */
export const maxHeadBytes = 64 * 1024;
/** Largest chunk-size line (the size in hex and any chunk extensions). */
const maxChunkLine = 4096;

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
  Failed,
}

const CR = 13;
const LF = 10;
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class ResponseParser {
  private state = State.Head;
  /** Bytes of a head, chunk-size line or trailer section not yet complete. */
  private line: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private keepAlive = true;
  private chunked = false;
  private extra = 0;

  constructor(private readonly events: ResponseEvents) {}

  /** Whether the response has ended (or failed): later bytes are not part of it. */
  get finished(): boolean {
    return this.state === State.Done || this.state === State.Failed;
  }

  /** Whether bytes came after the end of the response (a server that sent more than it framed). */
  get overrun(): boolean {
    return this.extra > 0;
  }

  /**
   * Body bytes still to come of a body framed by Content-Length, which the reader may read straight into
   * their place instead of feeding them (skipBody); 0 before the head, for other framings, and at the end.
   */
  get lengthRemaining(): number {
    return this.state === State.Length ? this.remaining : 0;
  }

  /** `count` body bytes (at most lengthRemaining) were read straight into their place: counted, not handed on. */
  skipBody(count: number): void {
    this.remaining -= count;
    if (this.remaining === 0) this.finish();
  }

  /**
   * Parses `bytes`. Returns undefined when all was well (bytes after the end of the response are
   * ignored: see `finished`), or a message naming what is malformed.
   */
  feed(bytes: Uint8Array): string | undefined {
    let at = 0;
    while (at < bytes.length) {
      switch (this.state) {
        case State.Head: {
          const used = this.collect(bytes, at, maxHeadBytes, "\r\n\r\n");
          if (typeof used === "string") return this.fail(used);
          at = used;
          if (this.line.length === 0 || !endsWith(this.line, "\r\n\r\n")) break;
          const problem = this.parseHead(this.line.subarray(0, this.line.length - 4).toString("latin1"));
          this.line = Buffer.alloc(0);
          if (problem !== undefined) return this.fail(problem);
          break;
        }
        case State.Length:
          at = this.deliver(bytes, at);
          if (this.remaining === 0) this.finish();
          break;
        case State.ChunkSize: {
          const used = this.collect(bytes, at, maxChunkLine, "\r\n");
          if (typeof used === "string") return this.fail(`a chunk-size line ${used}`);
          at = used;
          if (!endsWith(this.line, "\r\n")) break;
          const text = this.line.subarray(0, this.line.length - 2).toString("latin1");
          this.line = Buffer.alloc(0);
          const size = /^([0-9A-Fa-f]{1,13})[ \t]*(;.*)?$/.exec(text);
          if (size === null) return this.fail(`an invalid chunk size ${JSON.stringify(text.slice(0, 40))}`);
          this.remaining = Number.parseInt(size[1]!, 16);
          this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
          if (this.state === State.Trailers) this.line = Buffer.from("\r\n"); // the empty line may come at once
          break;
        }
        case State.ChunkData:
          at = this.deliver(bytes, at);
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2; // the CRLF after the data
          }
          break;
        case State.ChunkDataEnd: {
          const expected = this.remaining === 2 ? CR : LF;
          if (bytes[at] !== expected) return this.fail("a chunk not followed by CRLF");
          at++;
          if (--this.remaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          // Collected after a leading CRLF, so "\r\n\r\n" ends both an empty and a non-empty section.
          const used = this.collect(bytes, at, maxHeadBytes, "\r\n\r\n");
          if (typeof used === "string") return this.fail(`trailers ${used}`);
          at = used;
          if (endsWith(this.line, "\r\n\r\n")) {
            this.line = Buffer.alloc(0);
            this.finish();
          }
          break;
        }
        case State.UntilClose:
          this.events.body(bytes.subarray(at));
          at = bytes.length;
          break;
        case State.Done:
          this.extra += bytes.length - at;
          return undefined;
        case State.Failed:
          return undefined;
      }
    }
    return undefined;
  }

  /**
   * The connection closed. Returns undefined when that completed the response (a body that runs until
   * the close), else what was missing.
   */
  close(): string | undefined {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.events.end(false);
      return undefined;
    }
    if (this.state === State.Done || this.state === State.Failed) return undefined;
    const missing =
      this.state === State.Head
        ? "before the end of the headers"
        : this.state === State.Length
          ? `with ${this.remaining} bytes of the body still to come`
          : "in the middle of a chunked body";
    this.state = State.Failed;
    return `the connection closed ${missing}`;
  }

  /** Hands on up to `remaining` body bytes from `at`; returns where it stopped. */
  private deliver(bytes: Uint8Array, at: number): number {
    const take = Math.min(this.remaining, bytes.length - at);
    this.events.body(bytes.subarray(at, at + take));
    this.remaining -= take;
    return at + take;
  }

  /**
   * Appends bytes from `at` to `this.line` up to and including the first `end` sequence (looked for
   * across pieces). Returns where it stopped in `bytes`, or a message when the line grows past `limit`.
   */
  private collect(bytes: Uint8Array, at: number, limit: number, end: string): number | string {
    const before = this.line.length;
    const room = limit - before;
    const piece = bytes.subarray(at, at + Math.min(bytes.length - at, room + 1));
    const joined = before === 0 ? Buffer.from(piece) : Buffer.concat([this.line, piece]);
    const found = joined.indexOf(end, Math.max(0, before - end.length + 1), "latin1");
    if (found >= 0) {
      const stop = found + end.length;
      this.line = joined.subarray(0, stop);
      return at + (stop - before);
    }
    if (joined.length > limit) return `longer than ${limit} bytes`;
    this.line = joined;
    return at + piece.length;
  }

  private parseHead(text: string): string | undefined {
    const lines = text.split("\r\n");
    const status = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: (.*))?$/.exec(lines[0]!);
    if (status === null) return `not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`;
    const code = Number(status[2]);
    const headers: Record<string, string> = Object.create(null);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon) : "";
      if (!token.test(name)) return `a malformed header line ${JSON.stringify(line.slice(0, 80))}`;
      const key = name.toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (/[\0\r\n]/.test(value)) return `a header ${name} with a control character`;
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    }
    if (code >= 100 && code < 200) {
      // Interim answers (100 Continue, 103 Early Hints) precede the real one; a protocol switch is not ours.
      if (code === 101) return "an unrequested protocol switch (HTTP 101)";
      return undefined; // stay in State.Head for the final answer
    }
    this.keepAlive = status[1] === "1" && !/(^|,)\s*close\s*(,|$)/i.test(headers.connection ?? "");
    this.events.head({ status: code, statusText: status[3] ?? "", headers });
    if (this.state !== State.Head) return undefined; // the head handler failed or closed us
    return this.frameBody(code, headers);
  }

  /** Picks how the body ends (RFC 9112 §6.3), for an answer to a GET. */
  private frameBody(code: number, headers: Record<string, string>): string | undefined {
    if (code === 204 || code === 304) {
      this.finish();
      return undefined;
    }
    const coding = headers["transfer-encoding"];
    if (coding !== undefined) {
      const codings = coding.split(",").map((part) => part.trim().toLowerCase());
      this.chunked = codings[codings.length - 1] === "chunked";
      if (!this.chunked || headers["content-length"] !== undefined) this.keepAlive = false;
      this.state = this.chunked ? State.ChunkSize : State.UntilClose;
      return undefined;
    }
    const length = headers["content-length"];
    if (length !== undefined) {
      const values = new Set(length.split(",").map((part) => part.trim()));
      const [value] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(value!))
        return `an invalid Content-Length ${JSON.stringify(length.slice(0, 40))}`;
      this.remaining = Number(value);
      this.state = State.Length;
      if (this.remaining === 0) this.finish();
      return undefined;
    }
    this.keepAlive = false;
    this.state = State.UntilClose;
    return undefined;
  }

  private finish(): void {
    this.state = State.Done;
    this.events.end(this.keepAlive);
  }

  private fail(message: string): string {
    this.state = State.Failed;
    return message;
  }
}

function endsWith(buffer: Buffer, text: string): boolean {
  if (buffer.length < text.length) return false;
  for (let i = 0; i < text.length; i++)
    if (buffer[buffer.length - text.length + i] !== text.charCodeAt(i)) return false;
  return true;
}
