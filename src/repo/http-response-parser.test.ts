import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maxHeadBytes, type ResponseHead, ResponseParser } from "./http-response-parser.js";

interface Outcome {
  head?: ResponseHead;
  body: string;
  end?: { reusable: boolean };
  error?: string;
  /** What close() said, when the connection closed after the bytes. */
  closed?: string | undefined;
  overrun: boolean;
}

/** Feeds `pieces` one after another (then closes, if asked) and records what the parser reported. */
function parse(pieces: readonly Uint8Array[], close = false): Outcome {
  const outcome: Outcome = { body: "", overrun: false };
  const parser = new ResponseParser({
    head: (head) => {
      outcome.head = head;
    },
    body: (bytes) => {
      outcome.body += Buffer.from(bytes).toString("latin1");
    },
    end: (reusable) => {
      outcome.end = { reusable };
    },
  });
  for (const piece of pieces) {
    const error = parser.feed(piece);
    if (error !== undefined) {
      outcome.error = error;
      break;
    }
  }
  if (close && outcome.error === undefined) outcome.closed = parser.close() ?? "complete";
  outcome.overrun = parser.overrun;
  return outcome;
}

/** Every way of cutting `text` in two, plus one byte at a time: the result must not depend on it. */
function splits(text: string): Uint8Array[][] {
  const bytes = Buffer.from(text, "latin1");
  const ways: Uint8Array[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)]);
  ways.push(Array.from(bytes, (byte) => Uint8Array.of(byte)));
  return ways;
}

const cases: Array<{
  name: string;
  response: string;
  close?: boolean;
  expect: Partial<Outcome> & { status?: number; headers?: Record<string, string> };
}> = [
  {
    name: "a body framed by Content-Length, kept alive",
    response: "HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Range: bytes 0-4/9\r\n\r\nhello",
    expect: {
      status: 206,
      headers: { "content-length": "5", "content-range": "bytes 0-4/9" },
      body: "hello",
      end: { reusable: true },
    },
  },
  {
    name: "a chunked body with extensions and trailers",
    response:
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\nA\r\n, chunked!\r\n0\r\nX-Sum: 1\r\n\r\n",
    expect: { status: 200, body: "hello, chunked!", end: { reusable: true } },
  },
  {
    name: "a chunked body without trailers",
    response: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    expect: { body: "abc", end: { reusable: true } },
  },
  {
    name: "interim 100 and 103 answers are skipped",
    response:
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    expect: { status: 200, headers: { "content-length": "2" }, body: "ok", end: { reusable: true } },
  },
  {
    name: "no length: the body runs until the close, and the connection is not reused",
    response: "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil the end",
    close: true,
    expect: { body: "until the end", end: { reusable: false }, closed: "complete" },
  },
  {
    name: "Connection: close is honoured",
    response: "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\nx",
    expect: { body: "x", end: { reusable: false } },
  },
  {
    name: "an HTTP/1.0 answer is not reused",
    response: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
    expect: { body: "x", end: { reusable: false } },
  },
  {
    name: "204 has no body",
    response: "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
    expect: { status: 204, body: "", end: { reusable: true } },
  },
  {
    name: "a reason phrase may be missing, header values are trimmed, repeated headers joined",
    response: "HTTP/1.1 404\r\nX-A:  one \r\nx-a: two\r\nContent-Length: 0\r\n\r\n",
    expect: { status: 404, headers: { "x-a": "one, two" }, body: "", end: { reusable: true } },
  },
  {
    name: "bytes after the framed body are an overrun",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    expect: { body: "ok", end: { reusable: true }, overrun: true },
  },
  {
    name: "equal repeated Content-Length values are one",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    expect: { body: "abc", end: { reusable: true } },
  },
  {
    name: "Transfer-Encoding with Content-Length: chunked wins, no reuse",
    response:
      "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
    expect: { body: "z", end: { reusable: false } },
  },
  // Malformed answers: each an error naming what is wrong.
  { name: "not HTTP", response: "SSH-2.0-OpenSSH\r\n\r\n", expect: { error: "not an HTTP/1.x status line" } },
  {
    name: "HTTP/2 preface",
    response: "HTTP/2 200\r\n\r\n",
    expect: { error: "not an HTTP/1.x status line" },
  },
  {
    name: "a header without a colon",
    response: "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    expect: { error: "a malformed header line" },
  },
  {
    name: "an obsolete folded header",
    response: "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\r\n",
    expect: { error: "a malformed header line" },
  },
  {
    name: "conflicting Content-Length values",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    expect: { error: "an invalid Content-Length" },
  },
  {
    name: "a negative Content-Length",
    response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    expect: { error: "an invalid Content-Length" },
  },
  {
    name: "an invalid chunk size",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    expect: { error: "an invalid chunk size" },
  },
  {
    name: "a chunk longer than its size",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
    expect: { error: "a chunk not followed by CRLF" },
  },
  {
    name: "a protocol switch nobody asked for",
    response: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    expect: { error: "an unrequested protocol switch" },
  },
  // Cut short: close() says what was missing.
  {
    name: "closed inside the headers",
    response: "HTTP/1.1 200 OK\r\nContent-Le",
    close: true,
    expect: { closed: "the connection closed before the end of the headers" },
  },
  {
    name: "closed inside a framed body",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    close: true,
    expect: { body: "abc", closed: "the connection closed with 7 bytes of the body still to come" },
  },
  {
    name: "closed inside a chunked body",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    close: true,
    expect: { body: "ab", closed: "the connection closed in the middle of a chunked body" },
  },
];

describe("ResponseParser", () => {
  for (const { name, response, close, expect: want } of cases) {
    it(`${name}, however the bytes are cut`, () => {
      for (const pieces of splits(response)) {
        const got = parse(pieces, close);
        if (want.error !== undefined) {
          expect(got.error).toContain(want.error);
          continue;
        }
        expect(got.error).toBeUndefined();
        if (want.status !== undefined) expect(got.head?.status).toBe(want.status);
        if (want.headers !== undefined) expect(got.head?.headers).toMatchObject(want.headers);
        if (want.body !== undefined) expect(got.body).toBe(want.body);
        if (want.end !== undefined) expect(got.end).toEqual(want.end);
        else expect(got.end).toBeUndefined();
        if (want.closed !== undefined) expect(got.closed).toBe(want.closed);
        expect(got.overrun).toBe(want.overrun ?? false);
      }
    });
  }

  it("refuses headers larger than the limit instead of buffering them", () => {
    const huge = `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(maxHeadBytes)}\r\n\r\n`;
    const got = parse([Buffer.from(huge.slice(0, 1000)), Buffer.from(huge.slice(1000))]);
    expect(got.error).toBe(`longer than ${maxHeadBytes} bytes`);
    expect(got.head).toBeUndefined();
  });

  it("hands body bytes on as views of what it was fed, not copies", () => {
    const bytes = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody");
    const views: Uint8Array[] = [];
    const parser = new ResponseParser({ head: () => {}, body: (view) => views.push(view), end: () => {} });
    expect(parser.feed(bytes)).toBeUndefined();
    expect(views).toHaveLength(1);
    expect(views[0]!.buffer).toBe(bytes.buffer);
  });

  it.each<[string, string, number, string, boolean | undefined]>([
    // [what, fed first, lengthRemaining then, body handed on, end after skipping the rest]
    [
      "a framed body, part of it with the head",
      "HTTP/1.1 206 Partial\r\nContent-Length: 10\r\n\r\nabc",
      7,
      "abc",
      true,
    ],
    ["a framed body, none of it with the head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 5, "", true],
    [
      "a framed body on a closing connection",
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n",
      4,
      "",
      false,
    ],
    [
      "a chunked body: never read in place",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
      0,
      "ab",
      undefined,
    ],
    ["a body until the close: never read in place", "HTTP/1.0 200 OK\r\n\r\nxy", 0, "xy", undefined],
    ["the head not complete yet", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n", 0, "", undefined],
  ])("says how many bytes a reader may read in place: %s", (_, fed, remaining, body, end) => {
    let handed = "";
    let ended: boolean | undefined;
    const parser = new ResponseParser({
      head: () => {},
      body: (view) => {
        handed += Buffer.from(view).toString("latin1");
      },
      end: (reusable) => {
        ended = reusable;
      },
    });
    expect(parser.feed(Buffer.from(fed, "latin1"))).toBeUndefined();
    expect(parser.lengthRemaining).toBe(remaining);
    expect(handed).toBe(body);
    if (remaining > 0) {
      parser.skipBody(remaining - 1);
      expect(ended).toBeUndefined();
      expect(parser.lengthRemaining).toBe(1);
      parser.skipBody(1);
      expect(parser.lengthRemaining).toBe(0);
      expect(parser.finished).toBe(true);
    }
    expect(ended).toBe(end);
    expect(handed).toBe(body); // skipped bytes are never handed on
  });

  it("never throws, whatever it is fed", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            fc
              .constantFrom(
                "HTTP/1.1 200 OK\r\n",
                "Content-Length: 3\r\n",
                "Transfer-Encoding: chunked\r\n",
                "\r\n",
                "3\r\nabc\r\n",
                "0\r\n\r\n",
                "HTTP/1.1 100 Continue\r\n\r\n",
              )
              .map((text) => Buffer.from(text)),
          ),
          { maxLength: 12 },
        ),
        fc.boolean(),
        (pieces, close) => {
          const got = parse(pieces, close);
          // Whatever happened, a body is only reported after a head.
          if (got.body !== "") expect(got.head).toBeDefined();
        },
      ),
      { numRuns: 2000 },
    );
  });
});
