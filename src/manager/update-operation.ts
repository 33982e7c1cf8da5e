/**
 * `cui update` and `cui rollback` (paper, section 5.3): re-evaluate, diff against what runs, and touch
 * only what changed. An update runs in three phases, each step recorded in the journal before the next:
 *   1. stop the components that restart (dependents first) and snapshot their data disks;
 *   2. wave by wave in dependency order, start new components, start updated ones on their new program,
 *      deliver new parameters to the ones that reload; each must pass its health gate (ready in time);
 *   3. only when every gate passed ("committing"): stop removed components and move them to the attic,
 *      release what they held, record the new evaluation.
 * A failure in 1 or 2, or a daemon killed there, rolls every touched component back to its old version
 * and data snapshot; a daemon killed in 3 finishes 3. So each component ends at the old or the new
 * version, never neither, never both.
 */
import { performance } from "node:perf_hooks";
import type { StartMachineRequest } from "../agent/host-agent.js";
import type { Evaluation } from "../cvl/index.js";
import { type EvaluationJson, evaluationToJson } from "../cvl/json.js";
import { CollectiveError } from "../errors.js";
import { formatIpv4 } from "../net/ipv4.js";
import type { Db } from "../state/database.js";
import { allocate, registeredPools } from "./allocations.js";
import { assertAllowed } from "./blacklist.js";
import { checkFits, hostCapacity } from "./capacity.js";
import { assertComponent, isInside } from "./component-path.js";
import { defaultRoutesOf } from "./default-routes.js";
import { begin, finish, recordProgress } from "./journal.js";
import { machineId, machineRequest } from "./machine-request.js";
import type { InstanceRow, Operations, OperationsOptions, Progress } from "./operations.js";
import { readyTimeoutMs, reloadOf } from "./reload.js";
import { type SecretValues, secretFiles, secretNeedsOf, withSecretNames } from "./secret-files.js";
import { componentRows, programOf, programOrigin, updateInputs } from "./update-inputs.js";
import { planUpdate, type UpdateAction } from "./update-plan.js";

/** Snapshots and the attic, as an update uses them (manager/snapshots.ts and attic.ts implement them). */
export interface DataKeeping {
  /** Copies the (stopped) machine's data disks; undefined when it has none. */
  snapshot(input: {
    instanceId: string;
    path: string;
    machineId: string;
    repository: string | null;
    version: number | null;
    reason: string;
  }): Promise<{ id: string } | undefined>;
  /** Copies a snapshot back over the (stopped) machine's data disks. */
  restore(snapshotId: string, machineId: string): Promise<void>;
  /** The newest snapshot of a component, if any. */
  latest(instanceId: string, path: string): string | undefined;
  /** Moves a stopped machine's state and data disks to the attic. */
  toAttic(input: {
    instanceId: string;
    file: string;
    object: string;
    path: string;
    machineId: string;
    repository: string | null;
    version: number | null;
    reason: string;
  }): Promise<{ id: string }>;
  /** Applies the retention policy to a component's snapshots. */
  prune(instanceId: string, path: string): Promise<void>;
}

export interface UpdateTimings {
  /** Import resolution, evaluation and planning. */
  planMs: number;
  /** Fetching new programs into the host cache. */
  fetchMs: number;
  /** Stopping machines (the appliances' own shutdown). */
  stopMs: number;
  /** Starting machines until ready (the appliances' own start). */
  startMs: number;
  /** Snapshots of data disks. */
  snapshotMs: number;
  totalMs: number;
  /** totalMs without fetching, stopping and starting: the control plane's own time. */
  controlMs: number;
}

export interface HistoryEntry {
  id: number;
  at: string;
  /** "update", "autoupdate", "rollback". */
  action: string;
  path: string | null;
  from: number | null;
  to: number | null;
  automatic: boolean;
  /** "done", "rolled back", "failed", "skipped". */
  outcome: string;
  note: string;
}

export interface UpdateResult {
  readonly instance: string;
  /** The appliance's name (the object the file runs). */
  readonly appliance: string;
  readonly actions: UpdateAction[];
  /** False for a plan (nothing was changed) or when nothing needed doing. */
  readonly applied: boolean;
  readonly timings?: UpdateTimings;
}

/** What the journal holds about an update while it runs. */
interface UpdateDetail {
  file: string;
  object: string;
  only: string | null;
  automatic: boolean;
  phase: "applying" | "committing";
  actions: Array<{
    action: UpdateAction["action"];
    path: string;
    from: number | null;
    to: number | null;
    newProgram: boolean;
  }>;
  /** Components whose old machine was stopped (or reconfigured): these are rolled back on failure. */
  touched: string[];
  /** New components started (stopped again on failure). */
  started: string[];
  /** Snapshot taken per component before its program was replaced. */
  snapshots: Record<string, string>;
  /** Each touched component's previous version before this update (a rollback of it puts them back). */
  saved: Record<string, { request: string | null; repository: string | null; version: number | null }>;
  /** The new evaluation, recorded when the update commits. */
  evaluation: EvaluationJson;
}

export interface UpdaterOptions extends OperationsOptions {
  readonly keeping: DataKeeping;
}

const defaultReadyMs = 120_000;

export class Updater {
  constructor(
    private readonly operations: Operations,
    private readonly options: UpdaterOptions,
  ) {}

  private get db(): Db {
    return this.options.db;
  }

  /** What an update would do now, changing nothing (allocations previewed, then rolled back). */
  async plan(file: string, only: string | undefined, secrets?: SecretValues): Promise<UpdateResult> {
    const row = this.operations.instanceByFile(file);
    const evaluation = await this.options.manager.evaluateForStart(file, row.object);
    const files = secrets ? secretFiles(evaluation, secrets, file) : undefined;
    return {
      instance: row.id,
      appliance: row.object,
      actions: this.planWith(row, evaluation, only, files),
      applied: false,
    };
  }

  private planWith(
    row: InstanceRow,
    evaluation: Evaluation,
    only: string | undefined,
    files?: Map<string, Record<string, Uint8Array>>,
  ) {
    const running = JSON.parse(row.evaluation) as EvaluationJson;
    // Allocated in a transaction that is rolled back: the plan shows real addresses and holds none.
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const allocations = allocate(this.db, row.id, evaluation);
      const inputs = updateInputs(this.db, row.id, running, evaluation, allocations, only).plan;
      const keeper = this.operations.secrets;
      const desired = files
        ? inputs.desired.map((d) => ({
            ...d,
            secretsChanged: keeper.changed(machineId(row.id, d.path), files.get(d.path)),
          }))
        : inputs.desired;
      return planUpdate({ ...inputs, desired });
    } finally {
      this.db.exec("ROLLBACK");
    }
  }

  /** `cui update`: apply the plan. Throws UPDATE_FAILED (after rolling back) when a gate fails. */
  async update(
    file: string,
    only: string | undefined,
    progress: Progress,
    options: { automatic?: boolean; secrets?: SecretValues } = {},
  ): Promise<UpdateResult> {
    const began = performance.now();
    const row = this.operations.instanceByFile(file);
    const release = this.operations.claim(row.id, `${row.object} (${file})`);
    const t: UpdateTimings = {
      planMs: 0,
      fetchMs: 0,
      stopMs: 0,
      startMs: 0,
      snapshotMs: 0,
      totalMs: 0,
      controlMs: 0,
    };
    try {
      const evaluation = await this.options.manager.evaluateForStart(file, row.object);
      // The values the CLI brought; an automatic update has only those still held in memory.
      const files = options.secrets ? secretFiles(evaluation, options.secrets, file) : undefined;
      const secretsOf = (path: string) =>
        files?.get(path) ?? this.operations.secrets.get(machineId(row.id, path));
      // Planned without holding anything: a plan that fails a check changes nothing.
      const planned = this.planWith(row, evaluation, only, files);
      const work = planned.filter((a) => a.action !== "none");
      if (work.length === 0) {
        t.planMs = t.totalMs = t.controlMs = performance.now() - began;
        return { instance: row.id, appliance: row.object, actions: planned, applied: false, timings: t };
      }
      await this.guard(work, row.object);
      this.refuseWithoutSecrets(row, work, evaluation, secretsOf);
      checkFits(hostCapacity(this.db), this.options.manager.usage(row.id), evaluation);
      const detail: UpdateDetail = {
        file,
        object: row.object,
        only: only ?? null,
        automatic: options.automatic === true,
        phase: "applying",
        actions: work.map((a) => ({
          action: a.action,
          path: a.path,
          from: a.from,
          to: a.to,
          newProgram: a.newProgram,
        })),
        touched: [],
        started: [],
        snapshots: {},
        saved: {},
        evaluation: evaluationToJson(evaluation),
      };
      let journal = 0;
      const allocations = this.db
        .transaction(() => {
          journal = begin(this.db, row.id, "update", detail as unknown as Record<string, unknown>);
          const held = allocate(this.db, row.id, evaluation);
          const upsert = this.db.prepare(
            `INSERT INTO components (instance_id, path, kind, state, desired, since) VALUES (?, ?, ?, 'pending', 'running', ?)
             ON CONFLICT(instance_id, path) DO NOTHING`,
          );
          for (const a of work)
            if (a.action === "start") upsert.run(row.id, a.path, a.kind, new Date().toISOString());
          return held;
        })
        .immediate();
      const save = () => recordProgress(this.db, journal, detail as unknown as Record<string, unknown>);
      t.planMs = performance.now() - began;

      const components = new Map(evaluation.components.map((c) => [c.path, c]));
      const rows = new Map(componentRows(this.db, row.id).map((r) => [r.path, r]));
      let failing = "";
      try {
        const { publicPool } = registeredPools(this.db);
        // Only new components can need a network that does not exist yet; the bridges and firewall of
        // the running ones are there (checking them anyway costs about 200 ms of ip and nft).
        if (work.some((a) => a.action === "start")) {
          const usesPublic = allocations.interfaces.some((i) => i.network === "public");
          await this.options.agent.ensureNetworks(
            [...allocations.networks.values()],
            usesPublic ? publicPool : undefined,
          );
        }
        // Phase 1: stop what restarts, dependents first, and keep a snapshot of its data.
        for (const a of [...work].reverse()) {
          if (a.action !== "update") continue;
          failing = a.path;
          const r = rows.get(a.path)!;
          const id = machineId(row.id, a.path);
          this.remember(row.id, a.path, r, detail);
          save();
          const label = a.path || row.object;
          progress({ component: label, state: "stopping", detail: a.reason });
          const s0 = performance.now();
          const old = r.request ? (JSON.parse(r.request) as StartMachineRequest) : undefined;
          await this.options.agent.stopMachine(id, old?.spec.stopTimeoutSec ?? 180);
          t.stopMs += performance.now() - s0;
          this.operations.setComponent(row.id, a.path, { state: "stopped" });
          if (programChanged(a)) {
            const s1 = performance.now();
            const snap = await this.options.keeping.snapshot({
              instanceId: row.id,
              path: a.path,
              machineId: id,
              repository: r.repository,
              version: r.version,
              reason: `before the update to ${a.to === null ? "a new local image" : `version ${a.to}`}`,
            });
            t.snapshotMs += performance.now() - s1;
            if (snap) {
              detail.snapshots[a.path] = snap.id;
              save();
              progress({
                component: label,
                state: "stopped",
                detail: `data disks saved as snapshot ${snap.id}`,
              });
            }
          }
        }
        // Phase 2: wave by wave, each wave ready before the next.
        const defaultRoutes = defaultRoutesOf(evaluation, allocations.values);
        const publicGateway = formatIpv4(publicPool.hostAddress);
        const byPath = new Map(work.map((a) => [a.path, a]));
        for (const wave of evaluation.startOrder) {
          await Promise.all(
            wave.map(async (path) => {
              const a = byPath.get(path);
              if (!a || (a.action !== "start" && a.action !== "update" && a.action !== "reconfigure")) return;
              const component = components.get(path)!;
              const label = path || row.object;
              const id = machineId(row.id, path);
              const instanceDir = `${this.options.instancesDir}/${row.id}`;
              if (a.action === "reconfigure") {
                failing = path;
                const r = rows.get(path)!;
                const old = JSON.parse(r.request!) as StartMachineRequest;
                const request = withSecretNames(
                  machineRequest({
                    instanceId: row.id,
                    component,
                    allocations,
                    program: programOf(old),
                    instanceDir,
                    defaultRoutes,
                    publicGateway,
                  }),
                  secretsOf(path),
                );
                this.remember(row.id, path, r, detail);
                save();
                progress({ component: label, state: "reconfiguring", detail: a.reason });
                const reload = reloadOf(component);
                const changedSecrets = files ? this.operations.secrets.changed(id, files.get(path)) : [];
                const newSecrets = changedSecrets.length > 0 ? files?.get(path) : undefined;
                await this.options.agent.reconfigureMachine(id, {
                  params: request.spec.params ?? {},
                  ...(newSecrets ? { secrets: newSecrets } : {}),
                  reload: reload === "restart" ? { kind: "signal" } : reload,
                });
                if (newSecrets) this.operations.secrets.hold(id, newSecrets);
                // Same process, same start time: only the stored request changes.
                this.db
                  .prepare("UPDATE components SET request = ? WHERE instance_id = ? AND path = ?")
                  .run(JSON.stringify(request), row.id, path);
                progress({ component: label, state: "running", detail: "new parameters delivered" });
                return;
              }
              const f0 = performance.now();
              progress({ component: label, state: "preparing" });
              const program = await this.options.programs.prepare(component);
              t.fetchMs += performance.now() - f0;
              failing = path;
              const built = withSecretNames(
                machineRequest({
                  instanceId: row.id,
                  component,
                  allocations,
                  program,
                  instanceDir,
                  defaultRoutes,
                  publicGateway,
                }),
                secretsOf(path),
              );
              const request: StartMachineRequest =
                a.action === "update" && programChanged(a)
                  ? { ...built, spec: { ...built.spec, resetProgramLayer: true } }
                  : built;
              if (a.action === "start") {
                detail.started.push(path);
                save();
              }
              this.operations.setComponent(row.id, path, {
                state: "starting",
                request: JSON.stringify(request),
                machineId: request.spec.id,
                ...(program.repository ? { repository: program.repository, version: program.version! } : {}),
              });
              progress({
                component: label,
                state: "starting",
                detail: a.action === "update" ? a.reason : "new",
              });
              const s0 = performance.now();
              await this.operations.startWithSecrets(request, secretsOf(path));
              this.operations.setComponent(row.id, path, { state: "waiting" });
              progress({ component: label, state: "waiting", detail: "for readiness (the health gate)" });
              await this.options.agent.waitUntilReady(id, readyTimeoutMs(component, this.readyMs()));
              t.startMs += performance.now() - s0;
              this.operations.setComponent(row.id, path, { state: "running" });
              progress({ component: label, state: "running" });
            }),
          );
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const lines = failing ? await this.lastLines(machineId(row.id, failing)) : "";
        progress({ component: failing || row.object, state: "failed", detail: message });
        await this.rollBack(row.id, detail, progress).catch((undoError: unknown) => {
          progress({
            component: row.object,
            state: "failed",
            detail: `and rolling back failed too: ${undoError instanceof Error ? undoError.message : String(undoError)}`,
          });
          throw undoError;
        });
        finish(this.db, journal, "undone", { ...detail, error: message } as unknown as Record<
          string,
          unknown
        >);
        this.recordHistory(row, detail, "rolled back", message);
        throw new CollectiveError(
          "UPDATE_FAILED",
          `the update of ${row.object} failed at ${failing || "the start"}: ${message}\n` +
            `everything it touched was rolled back to the previous version${Object.keys(detail.snapshots).length > 0 ? " and its data disk snapshot" : ""}` +
            (lines ? `\nlast log lines of ${failing}:\n${lines}` : ""),
          {
            hint: "fix the appliance (or pin the working version in the file) and update again; 'cui history' lists what happened",
          },
        );
      }
      // Phase 3: every gate passed.
      detail.phase = "committing";
      save();
      await this.commit(row, detail, progress);
      finish(this.db, journal, "done");
      this.recordHistory(row, detail, "done");
      t.totalMs = performance.now() - began;
      t.controlMs = t.totalMs - t.fetchMs - t.stopMs - t.startMs;
      return { instance: row.id, appliance: row.object, actions: planned, applied: true, timings: t };
    } finally {
      release();
    }
  }

  /**
   * Before touching a component: its running request becomes the previous one (what a rollback returns
   * to), and what was previous before is kept in the journal, to be put back if this update rolls back.
   */
  private remember(
    instanceId: string,
    path: string,
    r: {
      previous_request: string | null;
      previous_repository: string | null;
      previous_version: number | null;
    },
    detail: UpdateDetail,
  ): void {
    detail.saved[path] = {
      request: r.previous_request,
      repository: r.previous_repository,
      version: r.previous_version,
    };
    this.db
      .prepare(
        "UPDATE components SET previous_request = request, previous_repository = repository, previous_version = version WHERE instance_id = ? AND path = ?",
      )
      .run(instanceId, path);
    detail.touched.push(path);
  }

  private readyMs(): number {
    return this.options.readyTimeoutMs ?? defaultReadyMs;
  }

  /**
   * An appliance never starts without its sensitive values: a component that would (re)start with none
   * given and none held (an automatic update after a daemon restart) stops the update before it acts.
   */
  private refuseWithoutSecrets(
    row: InstanceRow,
    work: readonly UpdateAction[],
    evaluation: Evaluation,
    secretsOf: (path: string) => Record<string, Uint8Array> | undefined,
  ): void {
    const rows = new Map(componentRows(this.db, row.id).map((r) => [r.path, r]));
    const required = secretNeedsOf(evaluation).filter((n) => n.required);
    const blocked = work
      .filter((a) => a.action === "update" || a.action === "start")
      .filter((a) => secretsOf(a.path) === undefined)
      .filter((a) => {
        const stored = rows.get(a.path)?.request;
        const names = stored ? ((JSON.parse(stored) as StartMachineRequest).secretNames ?? []) : [];
        return names.length > 0 || required.some((n) => n.component === a.path);
      })
      .map((a) => a.path || row.object);
    if (blocked.length > 0) {
      throw new CollectiveError(
        "SECRETS_FORGOTTEN",
        `the update would start ${blocked.join(", ")} without ${blocked.length === 1 ? "its" : "their"} sensitive values, which this daemon does not hold`,
        {
          hint: `run 'cui update ${row.file}' yourself (it brings the values from the user agent), or 'cui start ${row.file}' to give them again`,
        },
      );
    }
  }

  /** Refuses blacklisted and withdrawn target versions (blacklist.ts), before anything changes. */
  private async guard(actions: readonly UpdateAction[], appliance: string): Promise<void> {
    const targets = actions
      .filter(
        (a) => (a.action === "start" || a.action === "update") && a.repository !== null && a.to !== null,
      )
      .map((a) => ({ path: a.path, repository: a.repository!, version: a.to! }));
    await assertAllowed(this.db, this.options.withdrawn, targets, { action: "update to", appliance });
  }

  /** The last lines of a machine's log, for the report of a failed gate. */
  private async lastLines(id: string): Promise<string> {
    try {
      let text = "";
      for await (const chunk of this.options.agent.logs(id, { tail: 10 })) text += chunk;
      return text
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n");
    } catch {
      return "";
    }
  }

  /** Phase 3: removals, releases and the new evaluation. Idempotent (a restarted daemon runs it again). */
  private async commit(row: InstanceRow, detail: UpdateDetail, progress: Progress): Promise<void> {
    const rows = new Map(componentRows(this.db, row.id).map((r) => [r.path, r]));
    for (const a of detail.actions) {
      if (a.action !== "attic" && a.action !== "stop") continue;
      const r = rows.get(a.path);
      if (!r) continue; // done by an earlier run of this commit
      const label = a.path || row.object;
      if (a.action === "attic") {
        const id = machineId(row.id, a.path);
        const old = r.request ? (JSON.parse(r.request) as StartMachineRequest) : undefined;
        progress({ component: label, state: "stopping", detail: "gone from the file" });
        await this.options.agent.stopMachine(id, old?.spec.stopTimeoutSec ?? 180);
        const entry = await this.options.keeping.toAttic({
          instanceId: row.id,
          file: row.file,
          object: row.object,
          path: a.path,
          machineId: id,
          repository: r.repository,
          version: r.version,
          reason: "removed from the file by an update",
        });
        await this.options.agent.forgetMachine(id);
        progress({ component: label, state: "stopped", detail: `moved to the attic as ${entry.id}` });
      }
      this.db.prepare("DELETE FROM components WHERE instance_id = ? AND path = ?").run(row.id, a.path);
    }
    // Release what removed components and VANs held (only for a whole-file update: a partial one keeps
    // the running evaluation as the record of what runs).
    if (detail.only === null) {
      await this.releaseStale(row.id, detail.evaluation);
      this.db
        .prepare("UPDATE instances SET evaluation = ?, updated_at = ? WHERE id = ?")
        .run(JSON.stringify(detail.evaluation), new Date().toISOString(), row.id);
    }
    for (const path of Object.keys(detail.snapshots)) await this.options.keeping.prune(row.id, path);
  }

  /** Frees addresses and networks that no component of `evaluation` uses any more. */
  private async releaseStale(instanceId: string, evaluation: EvaluationJson): Promise<void> {
    const paths = new Set(evaluation.components.map((c) => c.path));
    const vans = new Set(evaluation.components.filter((c) => c.kind === "van").map((c) => c.path));
    const componentOf = (iface: string) => {
      const dot = iface.lastIndexOf(".");
      return dot < 0 ? "" : iface.slice(0, dot);
    };
    const addresses = this.db
      .prepare("SELECT interface FROM addresses WHERE instance_id = ?")
      .all(instanceId) as Array<{ interface: string }>;
    const networks = this.db
      .prepare("SELECT path, vni FROM networks WHERE instance_id = ?")
      .all(instanceId) as Array<{ path: string; vni: number }>;
    const staleVnis = networks.filter((n) => !vans.has(n.path)).map((n) => n.vni);
    if (staleVnis.length > 0) await this.options.agent.removeNetworks(staleVnis, false);
    this.db.transaction(() => {
      for (const a of addresses)
        if (!paths.has(componentOf(a.interface)))
          this.db
            .prepare("DELETE FROM addresses WHERE instance_id = ? AND interface = ?")
            .run(instanceId, a.interface);
      for (const vni of staleVnis) this.db.prepare("DELETE FROM networks WHERE vni = ?").run(vni);
    })();
  }

  /** Undoes phases 1 and 2: touched components back to their previous request and data, new ones stopped. */
  private async rollBack(instanceId: string, detail: UpdateDetail, progress: Progress): Promise<void> {
    const rows = new Map(componentRows(this.db, instanceId).map((r) => [r.path, r]));
    const order = detail.actions.map((a) => a.path).reverse();
    for (const path of order.filter((p) => detail.started.includes(p))) {
      const label = path || detail.object;
      progress({ component: label, state: "stopping", detail: "rolling back: it is new" });
      await this.options.agent.stopMachine(machineId(instanceId, path), 10);
      this.db.prepare("DELETE FROM components WHERE instance_id = ? AND path = ?").run(instanceId, path);
    }
    // Components the update added but never started hold a row too.
    for (const a of detail.actions)
      if (a.action === "start" && !detail.started.includes(a.path))
        this.db.prepare("DELETE FROM components WHERE instance_id = ? AND path = ?").run(instanceId, a.path);
    for (const path of order.filter((p) => detail.touched.includes(p))) {
      const r = rows.get(path);
      if (!r?.previous_request) continue;
      const a = detail.actions.find((x) => x.path === path)!;
      const id = machineId(instanceId, path);
      const label = path || detail.object;
      const previous = JSON.parse(r.previous_request) as StartMachineRequest;
      if (a.action === "reconfigure") {
        progress({
          component: label,
          state: "reconfiguring",
          detail: "rolling back to the previous parameters",
        });
        await this.options.agent
          .reconfigureMachine(id, { params: previous.spec.params ?? {}, reload: { kind: "signal" } })
          .catch(() => undefined);
      } else {
        const newRan = r.request !== r.previous_request;
        progress({ component: label, state: "stopping", detail: "rolling back" });
        await this.options.agent.stopMachine(id, newRan ? 10 : previous.spec.stopTimeoutSec);
        const snapshot = detail.snapshots[path];
        if (newRan && snapshot) {
          progress({ component: label, state: "stopped", detail: `restoring data snapshot ${snapshot}` });
          await this.options.keeping.restore(snapshot, id);
        }
        const request: StartMachineRequest = {
          ...previous,
          spec: { ...previous.spec, resetProgramLayer: newRan && programChanged(a) },
        };
        if ((request.secretNames ?? []).length > 0 && !this.operations.secrets.has(id)) {
          // A new daemon finishing a killed update: the values died with the old one. The component is
          // back at its previous version, stopped, until 'cui start' gives them again.
          this.restoreRecord(
            instanceId,
            path,
            JSON.stringify(request),
            detail.saved[path],
            "needs-secrets",
            false,
          );
          progress({
            component: label,
            state: "failed",
            detail: `back at its previous version, but its sensitive values went with the daemon that held them: run 'cui start ${detail.file}'`,
          });
          continue;
        }
        progress({
          component: label,
          state: "starting",
          detail: `the previous ${a.from === null ? "program" : `version ${a.from}`}`,
        });
        this.db
          .prepare(
            "UPDATE components SET request = ?, repository = ?, version = ? WHERE instance_id = ? AND path = ?",
          )
          .run(JSON.stringify(request), r.previous_repository, r.previous_version, instanceId, path);
        await this.operations.startWithSecrets(request, this.operations.secrets.get(id));
        await this.options.agent.waitUntilReady(id, this.readyMs());
      }
      this.restoreRecord(
        instanceId,
        path,
        r.previous_request,
        detail.saved[path],
        "running",
        a.action !== "reconfigure",
      );
      progress({ component: label, state: "running", detail: "rolled back" });
    }
    const row = this.db.prepare("SELECT evaluation FROM instances WHERE id = ?").get(instanceId) as
      | { evaluation: string }
      | undefined;
    if (row) await this.releaseStale(instanceId, JSON.parse(row.evaluation) as EvaluationJson);
  }

  /**
   * A rolled-back component's record: it runs `request` at its previous version again, and what was
   * previous before this update (kept in the journal) is previous again.
   */
  private restoreRecord(
    instanceId: string,
    path: string,
    request: string,
    saved: UpdateDetail["saved"][string] | undefined,
    state: "running" | "needs-secrets",
    restarted: boolean,
  ): void {
    this.db
      .prepare(
        `UPDATE components SET request = ?, repository = previous_repository, version = previous_version,
         previous_request = ?, previous_repository = ?, previous_version = ?, state = ?, since = COALESCE(?, since)
         WHERE instance_id = ? AND path = ?`,
      )
      .run(
        request,
        saved?.request ?? null,
        saved?.repository ?? null,
        saved?.version ?? null,
        state,
        restarted ? new Date().toISOString() : null,
        instanceId,
        path,
      );
  }

  /** After a daemon restart: finish (committing) or roll back (applying) an interrupted update. */
  async resume(op: { id: number; instanceId: string; detail: Record<string, unknown> }, progress: Progress) {
    const detail = op.detail as unknown as UpdateDetail;
    const row = this.db.prepare("SELECT * FROM instances WHERE id = ?").get(op.instanceId) as
      | InstanceRow
      | undefined;
    if (!row) {
      finish(this.db, op.id, "failed", { error: "interrupted; its instance is gone" });
      return;
    }
    if (detail.phase === "committing") {
      await this.commit(row, detail, progress);
      finish(this.db, op.id, "done", { ...detail, resumed: true } as unknown as Record<string, unknown>);
      this.recordHistory(row, detail, "done", "finished by the next daemon after an interruption");
    } else {
      await this.rollBack(row.id, detail, progress);
      finish(this.db, op.id, "undone", {
        ...detail,
        error: "interrupted; rolled back by the next daemon",
      } as unknown as Record<string, unknown>);
      this.recordHistory(row, detail, "rolled back", "interrupted; rolled back by the next daemon");
    }
  }

  /** `cui rollback`: back to each selected component's previous program (and, with data, its snapshot). */
  async rollback(
    file: string,
    only: string | undefined,
    withData: boolean,
    progress: Progress,
    secrets?: SecretValues,
  ): Promise<{
    instance: string;
    rolledBack: Array<{ path: string; from: number | null; to: number | null; snapshot: string | null }>;
  }> {
    const row = this.operations.instanceByFile(file);
    const running = JSON.parse(row.evaluation) as EvaluationJson;
    assertComponent(row.object, only, running.components);
    const release = this.operations.claim(row.id, `${row.object} (${file})`);
    try {
      const rows = componentRows(this.db, row.id).filter(
        (r) => isInside(only, r.path) && r.previous_request !== null && r.previous_request !== r.request,
      );
      if (rows.length === 0) {
        throw new CollectiveError(
          "NOTHING_TO_ROLL_BACK",
          `${only ? `${row.object}.${only}` : row.object} has no previous version to go back to`,
          { hint: "a rollback goes back over the last update; 'cui history' lists the updates" },
        );
      }
      await assertAllowed(
        this.db,
        this.options.withdrawn,
        rows
          .filter((r) => r.previous_repository !== null && r.previous_version !== null)
          .map((r) => ({ path: r.path, repository: r.previous_repository!, version: r.previous_version! })),
        { action: "roll back to", appliance: row.object },
      );
      if (secrets) {
        // The values the CLI brought, as the file assigns them: held for the machines rolled back.
        const files = secretFiles(
          await this.options.manager.evaluateForStart(file, row.object),
          secrets,
          file,
        );
        for (const r of rows) {
          const given = files.get(r.path);
          if (given) this.operations.secrets.hold(machineId(row.id, r.path), given);
        }
      }
      const forgotten = this.operations
        .secretsForgotten(row.id)
        .filter((p) => rows.some((r) => r.path === p));
      if (forgotten.length > 0) {
        throw new CollectiveError(
          "SECRETS_FORGOTTEN",
          `${forgotten.join(", ")} would start again without ${forgotten.length === 1 ? "its" : "their"} sensitive values: the daemon restarted and holds them no longer`,
          { hint: `give them again with 'cui start ${file}', then roll back` },
        );
      }
      const journal = begin(this.db, row.id, "rollback", { file, only: only ?? null, data: withData });
      const order = running.startOrder.flat();
      rows.sort((a, b) => order.indexOf(b.path) - order.indexOf(a.path));
      const done: Array<{ path: string; from: number | null; to: number | null; snapshot: string | null }> =
        [];
      for (const r of rows) {
        const id = machineId(row.id, r.path);
        const label = r.path || row.object;
        const current = JSON.parse(r.request!) as StartMachineRequest;
        const previous = JSON.parse(r.previous_request!) as StartMachineRequest;
        progress({ component: label, state: "stopping", detail: "rolling back" });
        await this.options.agent.stopMachine(id, current.spec.stopTimeoutSec);
        const snapshot = withData ? (this.options.keeping.latest(row.id, r.path) ?? null) : null;
        if (withData && snapshot === null) {
          progress({
            component: label,
            state: "stopped",
            detail: "no data snapshot to restore; data disks kept",
          });
        }
        if (snapshot) {
          progress({ component: label, state: "stopped", detail: `restoring data snapshot ${snapshot}` });
          await this.options.keeping.restore(snapshot, id);
        }
        const programDiffers = current.spec.programPath !== previous.spec.programPath;
        const request = { ...previous, spec: { ...previous.spec, resetProgramLayer: programDiffers } };
        // Swap: the version rolled back from becomes the previous one (a second rollback goes forward).
        this.db
          .prepare(
            `UPDATE components SET request = ?, repository = previous_repository, version = previous_version,
             previous_request = ?, previous_repository = repository, previous_version = version, state = 'starting', since = ?
             WHERE instance_id = ? AND path = ?`,
          )
          .run(JSON.stringify(request), r.request, new Date().toISOString(), row.id, r.path);
        progress({
          component: label,
          state: "starting",
          detail: r.previous_version === null ? "previous program" : `version ${r.previous_version}`,
        });
        await this.operations.startWithSecrets(request, this.operations.secrets.get(id));
        await this.options.agent.waitUntilReady(id, this.readyMs());
        this.operations.setComponent(row.id, r.path, { state: "running" });
        progress({ component: label, state: "running", detail: "rolled back" });
        done.push({ path: r.path, from: r.version, to: r.previous_version, snapshot });
      }
      finish(this.db, journal, "done");
      for (const d of done)
        this.history(
          row,
          "rollback",
          d.path,
          d.from,
          d.to,
          false,
          "done",
          d.snapshot ? `data restored from ${d.snapshot}` : "",
        );
      return { instance: row.id, rolledBack: done };
    } finally {
      release();
    }
  }

  /** `cui history`: every update and rollback of the instances started from a file, oldest first. */
  historyOf(file: string): HistoryEntry[] {
    const rows = this.db.prepare("SELECT * FROM history WHERE file = ? ORDER BY id").all(file) as Array<{
      id: number;
      at: string;
      action: string;
      path: string | null;
      from_version: number | null;
      to_version: number | null;
      automatic: number;
      outcome: string;
      detail: string;
    }>;
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      action: r.action,
      path: r.path,
      from: r.from_version,
      to: r.to_version,
      automatic: r.automatic === 1,
      outcome: r.outcome,
      note: String((JSON.parse(r.detail) as { note?: unknown }).note ?? ""),
    }));
  }

  private recordHistory(row: InstanceRow, detail: UpdateDetail, outcome: string, note = ""): void {
    for (const a of detail.actions)
      this.history(
        row,
        detail.automatic ? "autoupdate" : "update",
        a.path,
        a.from,
        a.to,
        detail.automatic,
        outcome,
        `${a.action}${note ? `: ${note}` : ""}`,
      );
  }

  history(
    row: { id: string; file: string },
    action: string,
    path: string | null,
    from: number | null,
    to: number | null,
    automatic: boolean,
    outcome: string,
    note: string,
  ): void {
    this.db
      .prepare(
        "INSERT INTO history (instance_id, file, action, path, from_version, to_version, automatic, outcome, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(
        row.id,
        row.file,
        action,
        path,
        from,
        to,
        automatic ? 1 : 0,
        outcome,
        JSON.stringify({ note }),
        new Date().toISOString(),
      );
  }
}

/** Whether an update replaces the program (a new version or image), as opposed to a restart for a setting. */
function programChanged(a: { action: string; newProgram: boolean }): boolean {
  return a.action === "update" && a.newProgram;
}

export { programOrigin };
