/**
 * Integration: a repository served by Debian's nginx (a static web server that knows nothing about
 * Collective) is fetched and pulled like one served by `cui repo serve`. nginx runs on a free loopback
 * port with a temporary configuration and is stopped in afterAll, whatever happened.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pullVersion } from "../cache/pull.js";
import { makeTestRepo } from "../cache/test-repo.js";
import { HttpTransport } from "./http-transport.js";

let scratch: string;
let nginx: ChildProcess | undefined;
let baseUrl: string;
let rootfs: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "collective-nginx-"));
  await chmod(scratch, 0o755); // nginx's workers run as an unprivileged user and must read the files
  const repo = await makeTestRepo(scratch);
  rootfs = join(scratch, "sources", "rootfs");
  await mkdir(join(rootfs, "srv"), { recursive: true });
  await writeFile(join(rootfs, "srv/data.bin"), randomBytes(2 << 20));
  await writeFile(join(rootfs, "srv/readme"), "version 1\n");
  await repo.publishTree(rootfs);
  await writeFile(join(rootfs, "srv/readme"), "version 2\n");
  await writeFile(join(rootfs, "srv/new.bin"), randomBytes(100_000));
  await repo.publishTree(rootfs);
  const port = await freePort();
  const prefix = join(scratch, "nginx");
  await mkdir(join(prefix, "logs"), { recursive: true });
  const config = join(prefix, "nginx.conf");
  await writeFile(
    config,
    `pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  server { listen 127.0.0.1:${port}; root ${scratch}; }
}
`,
  );
  nginx = spawn("nginx", ["-p", prefix, "-c", config, "-g", "daemon off;"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  await waitForPort(port, nginx);
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  if (nginx?.exitCode === null) {
    const exited = new Promise((resolve) => nginx!.once("exit", resolve));
    nginx.kill("SIGQUIT");
    await exited;
  }
  await rm(scratch, { recursive: true, force: true });
});

describe("a repository behind nginx", () => {
  it("pulls version 1, then fetches only what version 2 changed", async () => {
    const transport = new HttpTransport(`${baseUrl}/repo`);
    const cacheDir = join(scratch, "cache");
    const first = await pullVersion(transport, join(scratch, "v1"), { cacheDir, version: 1 });
    expect(await readFile(join(scratch, "v1/srv/readme"), "utf8")).toBe("version 1\n");
    const afterFirst = transport.bytesReceived;
    const second = await pullVersion(transport, join(scratch, "v2"), { cacheDir });
    transport.close();
    expect(second.version).toBe(2);
    expect(await readFile(join(scratch, "v2/srv/readme"), "utf8")).toBe("version 2\n");
    expect(
      (await readFile(join(scratch, "v2/srv/data.bin"))).equals(await readFile(join(rootfs, "srv/data.bin"))),
    ).toBe(true);
    expect(second.transfer.reusedBytes).toBeGreaterThanOrEqual(2 << 20);
    expect(transport.bytesReceived - afterFirst).toBeLessThan(first.transfer.fetchedBytes / 4);
  });

  it("reports a missing version with the URL nginx answered 404 for", async () => {
    const transport = new HttpTransport(`${baseUrl}/repo`);
    await expect(
      pullVersion(transport, join(scratch, "v9"), { cacheDir: join(scratch, "cache"), version: 9 }),
    ).rejects.toMatchObject({
      code: "VERSION_NOT_FOUND",
    });
    await expect(transport.readFile("versions/9/manifest.json")).rejects.toThrow(
      `${baseUrl}/repo/versions/9/manifest.json not found (HTTP 404)`,
    );
    transport.close();
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  let stderr = "";
  let failed: Error | undefined;
  child.stderr?.on("data", (data: Buffer) => {
    stderr += data.toString();
  });
  child.once("error", (error) => {
    failed = error;
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    if (failed)
      throw new Error(
        `cannot start nginx (install the Debian package nginx, listed in scripts/apt-packages.txt): ${failed.message}`,
      );
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nginx did not listen on 127.0.0.1:${port}: ${stderr}`);
}
