import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { apiClient } from "./client.js";

let dir: string | undefined;
let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A "daemon" on the client's socket that reads a request and dies without answering (as a killed one does). */
async function hangingUpDaemon(): Promise<ReturnType<typeof apiClient>> {
  dir = mkdtempSync(join(tmpdir(), "collective-client-"));
  const client = apiClient({ stateDir: dir, autoStart: false });
  mkdirSync(join(client.paths.socket, ".."), { recursive: true });
  server = createServer((socket) => socket.once("data", () => socket.destroy()));
  await new Promise<void>((resolve) => server!.listen(client.paths.socket, resolve));
  return client;
}

describe("the API client when the daemon dies mid-request", () => {
  it.each<[string, string, RegExp]>([
    // Not repeated (it may have been done): said plainly, not as an internal error.
    ["POST", "/v1/stop", /^the daemon stopped answering during POST \/v1\/stop \(socket hang up\)/],
    // Asked again of a new daemon, as when none runs (here none may be started).
    ["GET", "/v1/status", /^no daemon runs for /],
  ])("%s %s: %s", async (method, path, message) => {
    const client = await hangingUpDaemon();
    await expect(client.call(method, path, method === "POST" ? {} : undefined)).rejects.toMatchObject({
      code: "DAEMON_DOWN",
      message: expect.stringMatching(message),
    });
  });
});
