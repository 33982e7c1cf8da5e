/**
 * The container driver: machine appliances as runc containers (see driver.ts for the contract).
 *
 * The driver keeps no process per container: runc runs each detached, the container holds its own log
 * file, and a poll of /proc notices exits. Everything it must remember is in the instance's state dir
 * (machine-record.ts) and in runc's own state under --root, so an agent can die and a new driver object
 * adopts what runs (list, inspect). Crashes are restarted with backoff per the restart policy; the exit
 * status of a detached container is not observable, so every exit that was not asked for is a failure.
 */
import { EventEmitter } from "node:events";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CollectiveError } from "../errors.js";
import { checkId } from "../sys/names.js";
import { openConsoleLog, readConsoleLog, rotateIfLarge } from "./console-log.js";
import { prepareInstance, releaseInstance, resetStatusDir } from "./container-setup.js";
import type {
  LogOptions,
  MachineDriver,
  MachineSpec,
  MachineState,
  Reconfiguration,
  StopOptions,
  WaitReadyOptions,
} from "./driver.js";
import { isMounted } from "./host-mounts.js";
import { type InstanceLayout, instanceLayout, removableEntries } from "./instance-layout.js";
import { KeyedLock } from "./keyed-lock.js";
import { loadRecord, MachineIndex, type MachineRecord, saveRecord } from "./machine-record.js";
import { checkMachineSpec } from "./machine-spec-check.js";
import { endStaleListener, listenForNotify, type NotifyListener } from "./notify-listener.js";
import { rewriteParamsFile, writeSecrets } from "./parameter-files.js";
import { isProcessAlive, processStartTime } from "./process-liveness.js";
import type { ProcessUser } from "./process-user.js";
import { probeReadiness } from "./readiness-probe.js";
import { type BackoffOptions, defaultBackoff, restartDelayMs } from "./restart-backoff.js";
import { Runc } from "./runc.js";

/** How often readiness is probed while a caller waits for it. */
const READY_POLL_MS = 100;

export interface ContainerDriverOptions {
  /** The driver's own directory: the index of instances (persistent, e.g. /var/lib/collective/agent). */
  readonly stateRoot: string;
  /** runc's state root; default /run/collective/runc. */
  readonly runcRoot?: string;
  /** Parent cgroup of every container; default "collective". */
  readonly cgroupParent?: string;
  /** How often running machines are checked (exit, readiness, log size); default 1000 ms. */
  readonly pollMs?: number;
  readonly backoff?: BackoffOptions;
  /** Console log size at which it is rotated; default 8 MiB. */
  readonly logMaxBytes?: number;
}

const defaultStopTimeoutSec = 180;

export class ContainerDriver implements MachineDriver {
  readonly kind = "container";
  private readonly runc: Runc;
  private readonly index: MachineIndex;
  private readonly cgroupParent: string;
  private readonly pollMs: number;
  private readonly backoff: BackoffOptions;
  private readonly logMaxBytes: number;
  private readonly records = new Map<string, MachineRecord>();
  private readonly users = new Map<string, ProcessUser>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly listeners = new Map<string, NotifyListener>();
  private readonly probing = new Set<string>();
  private readonly lock = new KeyedLock();
  private readonly changes = new EventEmitter();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(options: ContainerDriverOptions) {
    this.runc = new Runc(options.runcRoot ?? "/run/collective/runc");
    this.index = new MachineIndex(options.stateRoot);
    this.cgroupParent = checkId(options.cgroupParent ?? "collective", "cgroup parent");
    this.pollMs = options.pollMs ?? 1_000;
    this.backoff = options.backoff ?? defaultBackoff;
    this.logMaxBytes = options.logMaxBytes ?? 8 * 1024 * 1024;
    this.changes.setMaxListeners(0);
    this.timer = setInterval(() => void this.tick(), this.pollMs);
    this.timer.unref();
  }

  // ---------- the interface ----------

  async start(spec: MachineSpec): Promise<MachineState> {
    checkMachineSpec(spec);
    return this.lock.run(spec.id, async () => {
      const existing = await this.load(spec.id);
      if (existing !== undefined && existing.stateDir !== spec.stateDir) {
        throw new CollectiveError(
          "MACHINE_EXISTS",
          `machine ${spec.id} already exists with state dir ${existing.stateDir}, not ${spec.stateDir}`,
        );
      }
      if (existing?.status === "running" && (await isProcessAlive(existing.pid, existing.pidStartTime))) {
        existing.desired = "running";
        await this.save(existing);
        return this.toState(existing);
      }
      this.cancelRestart(spec.id);
      if (existing !== undefined) {
        // Exited, restarting or stopped: release what the last run left (its overlay may be over an
        // older program tree), so this start mounts exactly what the spec says.
        this.closeListener(existing);
        await this.runc.delete(spec.id);
        await releaseInstance(instanceLayout(spec.stateDir), existing.dataDiskImages);
      }
      if (spec.resetProgramLayer) {
        const layout = instanceLayout(spec.stateDir);
        await rm(layout.upper, { recursive: true, force: true });
        await rm(layout.work, { recursive: true, force: true });
      }
      return this.startFresh(spec);
    });
  }

  async stop(id: string, options: StopOptions = {}): Promise<void> {
    checkId(id, "machine id");
    await this.lock.run(id, async () => {
      const record = await this.load(id);
      if (record === undefined) return;
      record.desired = "stopped";
      await this.save(record);
      this.cancelRestart(id);
      await this.terminate(id, options.timeoutSec ?? record.stopTimeoutSec);
      await this.releaseAll(record);
      Object.assign(record, { status: "stopped", ready: false, pid: undefined, pidStartTime: undefined });
      record.since = new Date().toISOString();
      await this.save(record);
    });
  }

  async remove(id: string): Promise<void> {
    checkId(id, "machine id");
    await this.lock.run(id, async () => {
      const record = await this.load(id);
      if (record === undefined) {
        // Nothing recorded; still make sure runc has nothing under this id.
        await this.runc.delete(id);
        return;
      }
      record.desired = "stopped";
      this.cancelRestart(id);
      await this.terminate(id, record.stopTimeoutSec);
      await this.releaseAll(record);
      for (const entry of removableEntries) {
        await rm(join(record.stateDir, entry), { recursive: true, force: true });
      }
      await this.index.remove(id);
      this.records.delete(id);
      this.users.delete(id);
      this.changes.emit(id);
    });
  }

  async inspect(id: string): Promise<MachineState | undefined> {
    checkId(id, "machine id");
    const record = await this.load(id);
    if (record === undefined) return undefined;
    await this.check(id);
    return this.toState(record);
  }

  async list(): Promise<MachineState[]> {
    const states: MachineState[] = [];
    for (const id of await this.index.ids()) {
      const state = await this.inspect(id).catch(() => undefined);
      if (state !== undefined) states.push(state);
    }
    return states;
  }

  async waitUntilReady(id: string, options: WaitReadyOptions): Promise<MachineState> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const record = await this.load(id);
      if (record === undefined)
        throw new CollectiveError("MACHINE_NOT_FOUND", `no machine ${id} on this host`);
      if (record.ready && record.status === "running") return this.toState(record);
      if (record.status === "stopped" || record.status === "exited") {
        const why = record.lastExit ? `: ${record.lastExit.reason}` : "";
        throw new CollectiveError(
          "MACHINE_EXITED",
          `machine ${id} ${record.status} before it was ready${why}`,
          {
            hint: "Its log (cui logs) usually says why.",
          },
        );
      }
      const left = deadline - Date.now();
      if (left <= 0 || options.signal?.aborted) {
        throw new CollectiveError(
          "READINESS_TIMEOUT",
          `machine ${id} was not ready within ${options.timeoutMs} ms`,
          {
            hint: `It declared readiness by ${record.readiness.kind}; check that it signals it (docs/appliances.md).`,
          },
        );
      }
      // Someone is waiting for this machine: probe often rather than on the slow tick, since each wave
      // of a start waits for the previous one to be ready.
      void this.probe(id).catch(() => undefined);
      await this.nextChange(id, Math.min(left, READY_POLL_MS));
    }
  }

  async reconfigure(id: string, change: Reconfiguration): Promise<void> {
    checkId(id, "machine id");
    await this.lock.run(id, async () => {
      const record = await this.load(id);
      if (record === undefined || record.status !== "running" || record.desired !== "running") {
        throw new CollectiveError(
          "MACHINE_NOT_RUNNING",
          `machine ${id} is ${record?.status ?? "not on this host"}; only a running machine is reconfigured`,
          { hint: "start it; it reads its parameters when it starts" },
        );
      }
      const layout = instanceLayout(record.stateDir);
      await rewriteParamsFile(layout.params, change.params);
      if (change.secrets !== undefined && Object.keys(change.secrets).length > 0)
        await writeSecrets(layout.secrets, change.secrets, await this.userOf(record));
      if (change.reload.kind === "signal") {
        await this.runc.kill(id, "HUP");
        return;
      }
      const timeoutMs = change.timeoutMs ?? 30_000;
      const status = await this.runc.execStatus(id, change.reload.command, timeoutMs);
      if (status !== 0) {
        throw new CollectiveError(
          "RELOAD_FAILED",
          `machine ${id}: its reload command (${change.reload.command.join(" ")}) exited with status ${status}`,
          {
            hint: "its log (cui logs) may say why; the new parameters are in place, the old process runs on",
          },
        );
      }
    });
  }

  async *logs(id: string, options: LogOptions = {}): AsyncGenerator<string> {
    checkId(id, "machine id");
    const record = await this.load(id);
    if (record === undefined) throw new CollectiveError("MACHINE_NOT_FOUND", `no machine ${id} on this host`);
    yield* readConsoleLog(instanceLayout(record.stateDir).consoleLog, options);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const id of [...this.restartTimers.keys()]) this.cancelRestart(id);
    await this.lock.idle();
    for (const listener of this.listeners.values()) listener.close();
    this.listeners.clear();
  }

  // ---------- starting ----------

  private async startFresh(spec: MachineSpec): Promise<MachineState> {
    const layout = instanceLayout(spec.stateDir);
    const record: MachineRecord = {
      id: spec.id,
      stateDir: spec.stateDir,
      desired: "running",
      status: "exited",
      ready: false,
      pid: undefined,
      pidStartTime: undefined,
      since: new Date().toISOString(),
      restarts: 0,
      crashStreak: 0,
      lastExit: undefined,
      notifyListenerPid: undefined,
      readiness: spec.readiness ?? { kind: "none" },
      restart: spec.restart ?? "no",
      stopTimeoutSec: spec.stopTimeoutSec ?? defaultStopTimeoutSec,
      dataDiskImages: (spec.dataDisks ?? []).map((disk) => disk.imagePath),
    };
    await this.index.add(spec.id, spec.stateDir);
    this.records.set(spec.id, record);
    try {
      const prepared = await prepareInstance(spec, layout, `/${this.cgroupParent}/${spec.id}`);
      this.users.set(spec.id, prepared.user);
      await this.launch(record, layout, prepared.user);
    } catch (error) {
      await this.runc.delete(spec.id).catch(() => undefined);
      this.closeListener(record);
      await releaseInstance(layout, record.dataDiskImages).catch(() => undefined);
      record.desired = "stopped";
      record.lastExit = { at: new Date().toISOString(), reason: `start failed: ${(error as Error).message}` };
      await this.save(record).catch(() => undefined);
      throw error;
    }
    return this.toState(record);
  }

  /** runc run of the prepared bundle, with a fresh status dir (and notify listener) and the log attached. */
  private async launch(record: MachineRecord, layout: InstanceLayout, user: ProcessUser): Promise<void> {
    await resetStatusDir(layout, user);
    if (record.readiness.kind === "notify") await this.openListener(record, layout, user);
    const log = await openConsoleLog(layout.consoleLog);
    let pid: number;
    try {
      pid = await this.runc
        .runDetached(record.id, layout.bundle, log.fd, layout.runcLog)
        .catch(async (error: unknown) => {
          // A container of this id left by a start that died before its record (runc delete costs a
          // command per start, so it is done only when needed): delete it and run once more.
          if ((await this.runc.state(record.id).catch(() => undefined)) === undefined) throw error;
          await this.runc.delete(record.id);
          return this.runc.runDetached(record.id, layout.bundle, log.fd, layout.runcLog);
        });
    } finally {
      await log.close();
    }
    // A process that exits at once is recorded as started; the next check notices the exit.
    record.pid = pid > 0 ? pid : undefined;
    record.pidStartTime = pid > 0 ? await processStartTime(pid) : undefined;
    record.status = "running";
    record.ready = record.readiness.kind === "none";
    record.since = new Date().toISOString();
    await this.save(record);
    if (!record.ready) void this.probe(record.id);
  }

  private async openListener(
    record: MachineRecord,
    layout: InstanceLayout,
    user: ProcessUser,
  ): Promise<void> {
    this.closeListener(record);
    await endStaleListener(record.notifyListenerPid, layout.notifySocket);
    // READY=1 is taken under the machine's lock, so it counts only once the launch that opened this
    // listener has recorded the new process (and not at all if that process has exited since).
    const listener: NotifyListener = await listenForNotify(layout.notifySocket, user, () => {
      void this.lock.run(record.id, async () => {
        if (record.status !== "running" || this.listeners.get(record.id) !== listener) return;
        record.ready = true;
        this.listeners.delete(record.id);
        record.notifyListenerPid = undefined;
        await this.save(record);
      });
    });
    this.listeners.set(record.id, listener);
    record.notifyListenerPid = listener.pid;
  }

  private closeListener(record: MachineRecord): void {
    this.listeners.get(record.id)?.close();
    this.listeners.delete(record.id);
  }

  // ---------- stopping ----------

  /** SIGTERM, SIGKILL after the timeout, then runc delete. A machine that is not running is fine. */
  private async terminate(id: string, timeoutSec: number): Promise<void> {
    const record = this.records.get(id);
    if (record !== undefined) this.closeListener(record);
    const state = await this.runc.state(id);
    if (state !== undefined && state.status !== "stopped") {
      const startTime = await processStartTime(state.pid);
      await this.runc.kill(id, "TERM");
      if (!(await this.waitForExit(state.pid, startTime, timeoutSec * 1000))) {
        await this.runc.kill(id, "KILL");
        await this.waitForExit(state.pid, startTime, 10_000);
      }
    }
    await this.runc.delete(id);
    if (record !== undefined)
      await endStaleListener(record.notifyListenerPid, instanceLayout(record.stateDir).notifySocket);
  }

  private async waitForExit(pid: number, startTime: string | undefined, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (await isProcessAlive(pid, startTime)) {
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
    return true;
  }

  private async releaseAll(record: MachineRecord): Promise<void> {
    await releaseInstance(instanceLayout(record.stateDir), record.dataDiskImages);
    record.notifyListenerPid = undefined;
  }

  // ---------- watching: exits, restarts, readiness, log size ----------

  private async tick(): Promise<void> {
    if (this.closed) return;
    for (const id of [...this.records.keys()]) {
      if (this.lock.isBusy(id)) continue;
      await this.check(id).catch(() => undefined);
    }
  }

  /** Notices an exit of a machine that should run, and keeps readiness probes and the log in order. */
  private async check(id: string): Promise<void> {
    const record = this.records.get(id);
    if (record === undefined || record.desired !== "running" || this.closed) return;
    if (record.status === "running") {
      if (await isProcessAlive(record.pid, record.pidStartTime)) {
        const ranFor = Date.now() - Date.parse(record.since);
        if (record.crashStreak > 0 && ranFor > this.backoff.resetAfterMs) {
          record.crashStreak = 0;
          await this.save(record);
        }
        if (!record.ready) void this.probe(id);
        await rotateIfLarge(instanceLayout(record.stateDir).consoleLog, this.logMaxBytes);
        return;
      }
      await this.lock.run(id, () => this.noticeExit(record));
    }
    if (record.status === "restarting" && !this.restartTimers.has(id)) this.scheduleRestart(record);
  }

  private async noticeExit(record: MachineRecord): Promise<void> {
    // A start may have replaced the record while this waited for the lock: the old one is history.
    if (this.records.get(record.id) !== record) return;
    if (record.status !== "running" || record.desired !== "running") return;
    if (await isProcessAlive(record.pid, record.pidStartTime)) return;
    this.closeListener(record);
    const state = await this.runc.state(record.id).catch(() => undefined);
    const reason = state === undefined ? "its container is gone (host restarted?)" : "its process exited";
    Object.assign(record, { ready: false, pid: undefined, pidStartTime: undefined });
    record.lastExit = { at: new Date().toISOString(), reason };
    record.since = record.lastExit.at;
    record.status = record.restart === "no" ? "exited" : "restarting";
    // Free the dead container's cgroup now; mounts stay for the restart (stop releases them).
    await this.runc.delete(record.id);
    await this.save(record);
  }

  private scheduleRestart(record: MachineRecord): void {
    const delay = restartDelayMs(this.backoff, record.crashStreak);
    const timer = setTimeout(() => {
      // The timer stays registered until the restart is over, so no check meanwhile schedules a second.
      void this.lock
        .run(record.id, async () => {
          if (this.restartTimers.get(record.id) !== timer) return;
          try {
            await this.restart(record);
          } finally {
            if (this.restartTimers.get(record.id) === timer) this.restartTimers.delete(record.id);
          }
        })
        .catch(() => undefined);
    }, delay);
    timer.unref();
    this.restartTimers.set(record.id, timer);
  }

  private cancelRestart(id: string): void {
    const timer = this.restartTimers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.restartTimers.delete(id);
  }

  private async restart(record: MachineRecord): Promise<void> {
    if (this.closed || record.desired !== "running" || record.status !== "restarting") return;
    // A start replaced the record (and its container) after this restart was scheduled: nothing to do.
    // Without this, a restart scheduled for the pre-reboot record killed the freshly started container.
    if (this.records.get(record.id) !== record) return;
    const layout = instanceLayout(record.stateDir);
    // After a reboot the overlay, disks and secrets are gone: only a new start (with the spec and the
    // secrets, which the driver does not keep) can bring the machine back.
    if (!(await isMounted(layout.rootfs))) {
      record.status = "exited";
      record.lastExit = {
        at: new Date().toISOString(),
        reason: "its root filesystem is no longer mounted: start it again",
      };
      await this.save(record);
      return;
    }
    record.crashStreak += 1;
    record.restarts += 1;
    try {
      await this.runc.delete(record.id);
      await this.launch(record, layout, await this.userOf(record));
    } catch (error) {
      record.lastExit = {
        at: new Date().toISOString(),
        reason: `restart failed: ${(error as Error).message}`,
      };
      record.status = "restarting";
      await this.save(record);
    }
  }

  private async probe(id: string): Promise<void> {
    const record = this.records.get(id);
    if (record === undefined || record.ready || this.probing.has(id) || record.pid === undefined) return;
    const pid = record.pid;
    if (record.readiness.kind === "notify") {
      if (!this.listeners.has(id)) {
        // Adopted before READY=1 came: listen again (the old listener died with the old agent).
        await this.lock.run(id, async () => {
          if (record.pid === pid && !record.ready && !this.listeners.has(id)) {
            await this.openListener(record, instanceLayout(record.stateDir), await this.userOf(record));
            await this.save(record);
          }
        });
      }
      return;
    }
    this.probing.add(id);
    try {
      const ready = await probeReadiness(record.readiness, {
        id,
        pid,
        layout: instanceLayout(record.stateDir),
        runc: this.runc,
      });
      if (ready && record.pid === pid && record.status === "running" && !record.ready) {
        record.ready = true;
        await this.save(record);
      }
    } finally {
      this.probing.delete(id);
    }
  }

  // ---------- records ----------

  /** The record from memory, or from the index and the state dir (adoption). */
  private async load(id: string): Promise<MachineRecord | undefined> {
    const known = this.records.get(id);
    if (known !== undefined) return known;
    const stateDir = await this.index.stateDirOf(id);
    if (stateDir === undefined) return undefined;
    const record = await loadRecord(instanceLayout(stateDir).record);
    if (record === undefined || record.id !== id) return undefined;
    this.records.set(id, this.records.get(id) ?? record);
    return this.records.get(id);
  }

  private async save(record: MachineRecord): Promise<void> {
    await saveRecord(instanceLayout(record.stateDir).record, record);
    this.changes.emit(record.id);
  }

  /** The process user from config.json (what the bundle runs as), for files made on a restart. */
  private async userOf(record: MachineRecord): Promise<ProcessUser> {
    const known = this.users.get(record.id);
    if (known !== undefined) return known;
    const config = JSON.parse(await readFile(instanceLayout(record.stateDir).config, "utf8")) as {
      process?: { user?: { uid?: number; gid?: number } };
    };
    const user = { uid: config.process?.user?.uid ?? 0, gid: config.process?.user?.gid ?? 0 };
    this.users.set(record.id, user);
    return user;
  }

  private nextChange(id: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.changes.off(id, done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.changes.on(id, done);
    });
  }

  private toState(record: MachineRecord): MachineState {
    return {
      id: record.id,
      driver: this.kind,
      status: record.status,
      ready: record.ready,
      pid: record.pid,
      since: record.since,
      restarts: record.restarts,
      lastExit: record.lastExit,
      stateDir: record.stateDir,
    };
  }
}
