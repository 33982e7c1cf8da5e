import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { apiClient } from "./client.js";
import { type RunningDaemon, startDaemon } from "./daemon.js";

const acme = join(import.meta.dirname, "../cvl/testdata/paper/acme.cvl");
const cli = join(import.meta.dirname, "../../bin/cui.js");

function rawGet(socket: string, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, path, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("the daemon", () => {
  let stateDir: string;
  let daemon: RunningDaemon | undefined;

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), "cvt-daemon-"));
  });
  afterEach(async () => {
    await daemon?.close();
    daemon = undefined;
    spawnSync(process.execPath, [cli, "--state-dir", stateDir, "daemon", "stop"], { encoding: "utf8" });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("serves the API on a 0600 socket and refuses callers without the token", async () => {
    daemon = await startDaemon({ stateDir });
    expect(statSync(daemon.paths.socket).mode & 0o777).toBe(0o600);
    expect(statSync(daemon.paths.token).mode & 0o777).toBe(0o600);
    const anonymous = await rawGet(daemon.paths.socket, "/v1/health");
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body).error.code).toBe("UNAUTHORIZED");
    const wrong = await rawGet(daemon.paths.socket, "/v1/health", "not-the-token");
    expect(wrong.status).toBe(401);
    const health = await apiClient({ stateDir, autoStart: false }).call<{ ok: boolean; pid: number }>(
      "GET",
      "/v1/health",
      "/v1/history",
    );
    expect(health).toMatchObject({ ok: true, pid: process.pid });
  });

  it("describes every route in its OpenAPI document", async () => {
    daemon = await startDaemon({ stateDir });
    const doc = JSON.parse((await rawGet(daemon.paths.socket, "/openapi.json")).body);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/v1/attic",
      "/v1/attic/{id}",
      "/v1/attic/{id}/restore",
      "/v1/autoupdate",
      "/v1/autoupdate/check",
      "/v1/blacklist",
      "/v1/blacklist/violations",
      "/v1/blacklist/violations/stop",
      "/v1/blacklist/{id}",
      "/v1/daemon/stop",
      "/v1/health",
      "/v1/history",
      "/v1/host",
      "/v1/logs",
      "/v1/plan",
      "/v1/pools",
      "/v1/pools/{kind}",
      "/v1/rollback",
      "/v1/secrets/needs",
      "/v1/snapshots",
      "/v1/start",
      "/v1/status",
      "/v1/stop",
      "/v1/update",
      "/v1/update/plan",
    ]);
  });

  it("plans a start with real addresses and holds none of them", async () => {
    daemon = await startDaemon({ stateDir });
    const client = apiClient({ stateDir, autoStart: false });
    const plan = await client.call<{
      interfaces: Array<{ path: string; ip: string }>;
      actions: Array<{ action: string }>;
    }>("GET", `/v1/plan?file=${encodeURIComponent(acme)}`);
    expect(plan.interfaces.map((i) => `${i.path}=${i.ip}`).sort()).toEqual([
      "d.ethernet0=10.16.0.2",
      "f.ethernet0=10.16.0.1",
      "f.ethernet1=10.15.255.2",
      "l.ethernet0=10.16.0.3",
    ]);
    expect(plan.actions.map((a) => a.action)).toEqual(["start", "start", "start"]);
    expect(await client.call("GET", "/v1/status")).toEqual({ appliances: [] });
  });

  it("reports bad requests and bad values as errors with a code and a message", async () => {
    daemon = await startDaemon({ stateDir });
    const client = apiClient({ stateDir, autoStart: false });
    await expect(client.call("PUT", "/v1/pools/vni", { spec: "9-3" })).rejects.toThrow(
      /ends before it starts/,
    );
    await expect(client.call("PUT", "/v1/pools/other", { spec: "1-2" })).rejects.toThrow(/kind/);
    await expect(client.call("PUT", "/v1/pools/vni", { spec: "4000-4100" })).rejects.toThrow(
      /overlaps the public pool/,
    );
    expect(await client.call("PUT", "/v1/pools/vni", { spec: "5000-5099" })).toEqual({
      vni: "5000-5099",
      public: "10.15.255.0/24",
    });
    const missing = join(stateDir, "missing.cvl");
    await expect(client.call("GET", `/v1/plan?file=${encodeURIComponent(missing)}`)).rejects.toThrow(
      /CVL1001/,
    );
  });

  it("refuses a start that does not fit, saying what is needed and free", async () => {
    daemon = await startDaemon({ stateDir });
    const client = apiClient({ stateDir, autoStart: false });
    await client.call("PATCH", "/v1/host", { memoryMiB: 500 });
    await expect(client.call("GET", `/v1/plan?file=${encodeURIComponent(acme)}`)).rejects.toThrow(
      /needs 768 MiB for 3 machine appliance\(s\); free are 500 MiB of 500/,
    );
  });

  it("replaces a stale socket left by a killed daemon, but not a live one", async () => {
    writeFileSync(join(stateDir, "cui.sock"), "");
    daemon = await startDaemon({ stateDir });
    await expect(startDaemon({ stateDir })).rejects.toThrow(/already serves/);
  });

  it("is started in the background by the CLI, and stops on 'cui daemon stop'", () => {
    const status = spawnSync(process.execPath, [cli, "--state-dir", stateDir, "status", "--json"], {
      encoding: "utf8",
    });
    expect(status.stderr).toBe("");
    expect(JSON.parse(status.stdout)).toEqual({ appliances: [] });
    expect(existsSync(join(stateDir, "cui.sock"))).toBe(true);
    const stop = spawnSync(process.execPath, [cli, "--state-dir", stateDir, "daemon", "stop"], {
      encoding: "utf8",
    });
    expect(stop.status).toBe(0);
    const deadline = Date.now() + 5000;
    while (existsSync(join(stateDir, "cui.sock")) && Date.now() < deadline) spawnSync("sleep", ["0.05"]);
    expect(existsSync(join(stateDir, "cui.sock"))).toBe(false);
    const after = spawnSync(process.execPath, [cli, "--state-dir", stateDir, "daemon", "status"], {
      encoding: "utf8",
    });
    expect(after.status).toBe(1);
    expect(after.stderr).toMatch(/no daemon runs/);
  });
});
