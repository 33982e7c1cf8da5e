import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selfSignedCertificate } from "../../repo/repo-test-kit.js";
import { runCui } from "../run-in-process.js";
import { parseListen } from "./repo-serve.js";

describe("--listen", () => {
  it.each([
    ["127.0.0.1:7080", { host: "127.0.0.1", port: 7080 }],
    ["0.0.0.0:8080", { host: "0.0.0.0", port: 8080 }],
    ["[::1]:7080", { host: "::1", port: 7080 }],
    [":9000", { host: "127.0.0.1", port: 9000 }],
  ])("reads %s", (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each(["7080", "host:", "host:70000", "a:b:c"])("refuses %s with a usage error", (text) => {
    expect(() => parseListen(text)).toThrow(`--listen takes ADDR:PORT, not ${JSON.stringify(text)}`);
  });
});

describe("cui repo serve (the built command)", () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "collective-cli-serve-"));
    await mkdir(join(scratch, "dns"));
    await writeFile(join(scratch, "dns", "repo.json"), '{"x":1}');
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("serves until SIGTERM, then drains and exits 0", async () => {
    const cui = resolve(import.meta.dirname, "../../../bin/cui.js");
    const child = spawn(process.execPath, [cui, "repo", "serve", scratch, "--listen", "127.0.0.1:0"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    try {
      let stderr = "";
      const url = await new Promise<string>((resolveUrl, reject) => {
        child.stderr.on("data", (data: Buffer) => {
          stderr += data.toString();
          const match = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
          if (match) resolveUrl(match[1]!);
        });
        child.once("exit", (code) => reject(new Error(`cui exited with ${code}: ${stderr}`)));
      });
      const response = await fetch(`${url}/dns/repo.json`, { headers: { range: "bytes=0-2" } });
      expect(response.status).toBe(206);
      expect(await response.text()).toBe('{"x');
      const exit = new Promise<number | null>((done) => child.once("exit", done));
      child.kill("SIGTERM");
      expect(await exit).toBe(0);
      expect(stderr).toContain("stopping: finishing transfers in flight");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("cui repo serve with TLS files it cannot use", () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "collective-cli-serve-tls-"));
    for (const name of ["a", "b"]) selfSignedCertificate(scratch, name);
    await writeFile(join(scratch, "empty"), "");
    execFileSync("mkfifo", [join(scratch, "fifo")]);
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  // Each of these was an internal error with a stack, a hang (a fifo), or a server whose every handshake failed.
  it.each([
    [
      "an empty certificate",
      "empty",
      "a.key",
      "the TLS certificate SCRATCH/empty and key SCRATCH/a.key cannot be used: ",
    ],
    [
      "a key given as the certificate",
      "a.key",
      "a.pem",
      "the TLS certificate SCRATCH/a.key and key SCRATCH/a.pem cannot be used: ",
    ],
    [
      "another certificate's key",
      "a.pem",
      "b.key",
      "the TLS certificate SCRATCH/a.pem and key SCRATCH/b.key cannot be used: ",
    ],
    ["a fifo", "fifo", "a.key", "cannot read the TLS certificate SCRATCH/fifo: not a regular file"],
  ])(
    "refuses %s before it listens",
    async (_name, cert, key, says) => {
      const run = await runCui([
        "repo",
        "serve",
        scratch,
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        join(scratch, cert),
        "--tls-key",
        join(scratch, key),
      ]);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`error: ${says.replaceAll("SCRATCH", scratch)}`);
      expect(run.stderr).not.toContain("serving");
    },
    10_000,
  );
});
