import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TempDirs } from "../repo/repo-test-kit.js";
import { openRegularFile, readRegularFile } from "./regular-file.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

describe("openRegularFile", () => {
  it("refuses a FIFO without opening it (a writer waiting on it stays blocked)", async () => {
    const fifo = join(temp.make("fifo-open"), "fifo");
    execFileSync("mkfifo", [fifo]);
    // A writer's blocking open returns only once a reader opens the FIFO: its exit tells whether we did.
    const writer = spawn(process.execPath, ["-e", `require("fs").openSync(${JSON.stringify(fifo)}, "w")`]);
    const exited = new Promise<void>((resolve) => writer.once("exit", () => resolve()));
    let outcome: unknown;
    try {
      await new Promise((resolve) => setTimeout(resolve, 200)); // the writer is in its open
      await expect(openRegularFile(fifo, (kind) => new Error(`refused: ${kind}`))).rejects.toThrow(
        "refused: a FIFO (named pipe)",
      );
      outcome = await Promise.race([
        exited.then(() => "the FIFO was opened"),
        new Promise((resolve) => setTimeout(() => resolve("not opened"), 300)),
      ]);
    } finally {
      // Let the writer go, whatever happened: open the read end ourselves (and kill it if that fails).
      try {
        closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
      } catch {
        writer.kill("SIGKILL");
      }
      await exited;
    }
    expect(outcome).toBe("not opened");
  });
});

describe("readRegularFile", () => {
  const refuse = (kind: string) => new Error(`refused: ${kind}`);
  it.each([
    ["a directory", (path: string) => mkdirSync(path), "refused: a directory"],
    ["a FIFO", (path: string) => execFileSync("mkfifo", [path]), "refused: a FIFO (named pipe)"],
  ])("refuses %s at once", async (_label, make, message) => {
    const path = join(temp.make("regular-file"), "x");
    make(path);
    await expect(readRegularFile(path, refuse)).rejects.toThrow(message);
  });

  it("refuses a character device, and reads a regular file whole", async () => {
    await expect(readRegularFile("/dev/zero", refuse)).rejects.toThrow("refused: a character device");
    const path = join(temp.make("regular-file"), "f");
    writeFileSync(path, "some bytes\n");
    expect((await readRegularFile(path, refuse)).toString()).toBe("some bytes\n");
  });

  it("leaves a missing file's error as it is", async () => {
    await expect(readRegularFile(join(temp.make("regular-file"), "none"), refuse)).rejects.toMatchObject({
      code: "ENOENT",
    });
  });
});
