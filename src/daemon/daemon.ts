/**
 * The embedded daemon: manager (and, in one process, the host agent) behind the API on a unix socket.
 * Started in the foreground by `cui daemon`, or in the background by the first CLI command that needs
 * it. On SIGTERM/SIGINT or POST /v1/daemon/stop it stops accepting, lets requests in flight finish, closes
 * the database and exits; appliances keep running (the next daemon re-adopts them). close() is
 * idempotent: calling it twice waits for the same shutdown.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { createConnection } from "node:net";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { CachePrograms } from "../agent/cache-programs.js";
import { CollectiveError } from "../errors.js";
import { importResolver } from "../import-resolver.js";
import { sweepAttic } from "../manager/attic.js";
import { AutoUpdater, autoUpdateIntervalMs } from "../manager/autoupdate.js";
import { stateDirKeeping } from "../manager/data-keeping.js";
import { Manager } from "../manager/manager.js";
import { Operations } from "../manager/operations.js";
import { Programs } from "../manager/programs.js";
import { sweepSnapshots } from "../manager/snapshots.js";
import { RepositoryWithdrawals } from "../repo/withdrawn-versions.js";
import { openDatabase } from "../state/database.js";
import { createApi } from "./api.js";
import { buildId } from "./build-id.js";
import { createLocalAgent } from "./local-agent.js";
import { type StatePaths, statePaths } from "./paths.js";
import { createToken } from "./token.js";

export const DAEMON_VERSION = "0.1.0";

export interface RunningDaemon {
  readonly paths: StatePaths;
  /** Resolves when the daemon has stopped (by close(), a signal, or the API). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** Whether something answers on the socket (a live daemon), as opposed to a stale socket file. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function startDaemon(
  options: { stateDir?: string; handleSignals?: boolean } = {},
): Promise<RunningDaemon> {
  const paths = statePaths(options.stateDir);
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  if (existsSync(paths.socket)) {
    if (await socketAnswers(paths.socket)) {
      throw new CollectiveError("DAEMON_RUNNING", `a daemon already serves ${paths.socket}`, {
        hint: "stop it first with 'cui daemon stop', or use another --state-dir",
      });
    }
    rmSync(paths.socket, { force: true }); // left by a daemon that was killed
  }
  const db = openDatabase(paths.database);
  const manager = new Manager({ db, resolver: importResolver() });
  const agent = await createLocalAgent(paths);
  const withdrawn = new RepositoryWithdrawals();
  const operations = new Operations({
    db,
    manager,
    agent,
    programs: new Programs(new CachePrograms(join(paths.root, "cache"))),
    instancesDir: paths.instances,
    withdrawn,
    keeping: stateDirKeeping({
      db,
      instancesDir: paths.instances,
      snapshotsDir: paths.snapshots,
      atticDir: paths.attic,
    }),
    // One line per start in the daemon's log: where the time went (docs/benchmarks.md reads it).
    onStartTimings: (t) =>
      process.stderr.write(
        `cui daemon: start timings ${JSON.stringify(t, (_k, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v))}\n`,
      ),
  });
  const token = createToken(paths.token);
  // Automatic updates: every COLLECTIVE_AUTOUPDATE_INTERVAL seconds (default an hour), within each
  // appliance's window; what they do goes to the daemon's log and to `cui history`.
  const autoupdater = new AutoUpdater(db, operations, {
    intervalMs: autoUpdateIntervalMs(process.env.COLLECTIVE_AUTOUPDATE_INTERVAL),
    log: (line) => process.stderr.write(`cui daemon: ${line}\n`),
  });

  let shutdown: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const close = (): Promise<void> => {
    shutdown ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await autoupdater.close();
      await agent.close();
      db.close();
      rmSync(paths.socket, { force: true });
      rmSync(paths.pid, { force: true });
      if (options.handleSignals) {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
      resolveClosed();
    })();
    return shutdown;
  };
  const onSignal = () => {
    void close();
  };

  const app = createApi({
    manager,
    operations,
    db,
    withdrawn,
    agent,
    paths,
    autoupdater,
    token,
    version: DAEMON_VERSION,
    build: buildId(),
    requestShutdown: onSignal,
  });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // The socket is created with the process umask; restrict it before anyone can connect.
    const previous = process.umask(0o177);
    server.listen(paths.socket, () => {
      process.umask(previous);
      resolve();
    });
  });
  chmodSync(paths.socket, 0o600);
  writeFileSync(paths.pid, `${process.pid}\n`, { mode: 0o600 });
  if (options.handleSignals) {
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
  // Put back or complete attic moves and snapshots a killed daemon left half done, before reconcile
  // acts on components (see attic.ts and snapshots.ts).
  await sweepAttic({ db, instancesDir: paths.instances, atticDir: paths.attic });
  await sweepSnapshots({ db, instancesDir: paths.instances, snapshotsDir: paths.snapshots });
  // Converge: finish what a killed daemon left under way, bring back what should run.
  await operations.reconcile((event) => {
    process.stderr.write(
      `cui daemon: reconcile: ${event.component}: ${event.state}${event.detail ? ` (${event.detail})` : ""}\n`,
    );
  });
  autoupdater.start();
  return { paths, closed, close };
}
