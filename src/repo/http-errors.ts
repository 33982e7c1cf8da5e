/** The errors the HTTP transport raises: each names the URL, says what went wrong and what to do. */
import { CollectiveError } from "../errors.js";

export function httpTimeout(url: URL, ms: number, phase: "connect" | "idle"): CollectiveError {
  const what =
    phase === "connect"
      ? `could not connect to ${url.origin} within ${ms} ms`
      : `no data from the server for ${ms} ms`;
  return new CollectiveError("REPO_HTTP_TIMEOUT", `timed out fetching ${display(url)}: ${what}`, {
    hint: "Check that the repository server is up and reachable; if it is only slow, raise the timeout.",
  });
}

export function httpUnreachable(url: URL, error: NodeJS.ErrnoException): CollectiveError {
  const reason = error.code === "ECONNREFUSED" ? "connection refused" : error.message;
  return new CollectiveError(
    "REPO_HTTP_UNREACHABLE",
    `cannot fetch ${display(url)}: ${reason}${error.code ? ` (${error.code})` : ""}`,
    { hint: "Check the repository URL and that its server is running.", cause: error },
  );
}

export function httpForeignRedirect(url: URL, location: string): CollectiveError {
  return new CollectiveError(
    "REPO_HTTP_REDIRECT",
    `${display(url)} redirects to another host (${location}); refusing to follow it`,
    {
      hint: "A repository must be served from one origin. If you trust the new location, use that URL instead.",
    },
  );
}

export function httpBadResponse(url: URL, why: string): CollectiveError {
  return new CollectiveError("REPO_HTTP_BAD_RESPONSE", `bad answer from ${display(url)}: ${why}`, {
    hint: "The server is not serving this repository's files as stored; check its configuration or try again.",
  });
}

export function httpTruncated(
  url: URL,
  received: number,
  expected: number,
  attempts: number,
): CollectiveError {
  return new CollectiveError(
    "REPO_HTTP_TRUNCATED",
    `download of ${display(url)} broke off after ${received} of ${expected} bytes (${attempts} attempts)`,
    { hint: "The connection or the server keeps failing mid-transfer; try again later." },
  );
}

export function httpTooLarge(url: URL, size: number | undefined, maxBytes: number): CollectiveError {
  const seen = size === undefined ? "more than that" : `${size} bytes`;
  return new CollectiveError(
    "REPO_HTTP_TOO_LARGE",
    `${display(url)} is larger than the ${maxBytes} bytes allowed for it (the server sent ${seen})`,
    {
      hint: "The URL probably does not point at a Collective repository, or the server answers with garbage.",
    },
  );
}

export function httpStatus(url: URL, status: number, statusText: string | undefined): CollectiveError {
  if (status === 404 || status === 410) {
    return new CollectiveError("REPO_NOT_FOUND", `${display(url)} not found (HTTP ${status})`, {
      hint: "Check the repository URL and the version; `cui versions <repo-url>` lists what exists.",
    });
  }
  return new CollectiveError(
    "REPO_HTTP_STATUS",
    `${display(url)} answered HTTP ${status}${statusText ? ` ${statusText}` : ""}`,
    {
      hint:
        status >= 500
          ? "The server failed; try again later."
          : "Check the URL and the server's access rules.",
    },
  );
}

/** A URL as printed in messages: without any user:password part. */
export function display(url: URL): string {
  if (url.username === "" && url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}
