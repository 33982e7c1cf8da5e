/**
 * The API's shared secret. The daemon creates a random token in a 0600 file in the state directory; a
 * caller proves it may use the API by reading that file (which only the daemon's user can) and sending it
 * as a bearer token. The socket itself is 0600 too: two locks on one door.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { CollectiveError } from "../errors.js";

export function createToken(path: string): string {
  const token = randomBytes(32).toString("base64url");
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return token;
}

export function readToken(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CollectiveError(
      code === "EACCES" ? "NOT_ALLOWED" : "DAEMON_DOWN",
      code === "EACCES"
        ? `cannot read the API token ${path}: permission denied`
        : `the daemon's API token ${path} is missing`,
      {
        hint:
          code === "EACCES"
            ? "run cui as the user the daemon runs as (root)"
            : "start the daemon: cui daemon",
      },
    );
  }
}

export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}
