/**
 * An http(s) repository's URL, checked: kept apart from http-transport.ts so that naming a repository
 * does not load the HTTP client (open-transport.ts loads it at the first read).
 */
import { CollectiveError } from "../errors.js";

/** The repository's base URL (ending in a slash), or REPO_BAD_URL naming what is wrong with `url`. */
export function repositoryBase(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CollectiveError("REPO_BAD_URL", `not a repository URL: ${JSON.stringify(url)}`, {
      hint: "Use http://host[:port]/path or https://host[:port]/path.",
    });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CollectiveError("REPO_BAD_URL", `not an http(s) URL: ${JSON.stringify(url)}`, {
      hint: "The HTTP transport takes http:// and https:// URLs; use a path or file:// for local repositories.",
    });
  }
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new CollectiveError(
      "REPO_BAD_URL",
      `a repository URL has no query or fragment: ${JSON.stringify(url)}`,
      {
        hint: "Remove the part from ? or # on.",
      },
    );
  }
  return new URL(parsed.href.endsWith("/") ? parsed.href : `${parsed.href}/`);
}
