import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withPublishLock } from "./publish-lock.js";

let repo: string;
let lock: string;

beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), "collective-publish-lock-"));
  mkdirSync(join(repo, "locks"));
  lock = join(repo, "locks", "publish.lock");
});

afterEach(() => {
  rmSync(repo, { recursive: true, force: true });
});

/** Makes the lock file look `seconds` old. */
function age(seconds: number): void {
  const then = Date.now() / 1000 - seconds;
  utimesSync(lock, then, then);
}

/** A pid no process has: one that ran and exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid!;
}

describe("withPublishLock", () => {
  const cases: Array<{ name: string; content: string; ageSeconds: number; broken: boolean }> = [
    // A publisher killed between creating the lock and writing its owner into it leaves it empty.
    { name: "an empty lock left seconds ago", content: "", ageSeconds: 30, broken: true },
    { name: "a half-written lock left seconds ago", content: '{"pid":12', ageSeconds: 30, broken: true },
    {
      name: "an empty lock made a moment ago (its owner is writing it)",
      content: "",
      ageSeconds: 0,
      broken: false,
    },
    {
      name: "the lock of a process that is gone",
      content: JSON.stringify({ pid: deadPid(), host: hostname(), created: Date.now() }),
      ageSeconds: 0,
      broken: true,
    },
    {
      name: "the lock of a live process",
      content: JSON.stringify({ pid: process.pid, host: hostname(), created: Date.now() }),
      ageSeconds: 0,
      broken: false,
    },
    {
      name: "a lock older than ten minutes, from another host",
      content: JSON.stringify({ pid: 1, host: "elsewhere", created: Date.now() - 11 * 60 * 1000 }),
      ageSeconds: 0,
      broken: true,
    },
  ];
  for (const { name, content, ageSeconds, broken } of cases) {
    it(`${broken ? "breaks" : "waits for"} ${name}`, async () => {
      writeFileSync(lock, content);
      age(ageSeconds);
      const result = withPublishLock(repo, async () => "ran", 300);
      if (broken) {
        await expect(result).resolves.toBe("ran");
      } else {
        await expect(result).rejects.toMatchObject({
          code: "REPO_LOCKED",
          message:
            content === ""
              ? `${lock} is held by a publisher that has not recorded itself in it yet`
              : `${lock} is held by process ${process.pid} on ${hostname()}`,
        });
      }
    });
  }

  it("removes its own lock when the action fails", async () => {
    await expect(
      withPublishLock(repo, async () => {
        throw new Error("publish failed");
      }),
    ).rejects.toThrow("publish failed");
    await expect(withPublishLock(repo, async () => "again", 300)).resolves.toBe("again");
  });
});
