/**
 * Starting and stopping appliances (paper, 5.1.2 and 5.2), journaled so that a daemon killed at any
 * point converges when it restarts: every step is idempotent (allocation returns what is held, networks
 * and machines that exist are kept), so finishing an interrupted start means running it again, and the
 * stored agent requests let a crashed or vanished machine be started exactly as before.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { HostAgent, StartMachineRequest } from "../agent/host-agent.js";
import type { Evaluation } from "../cvl/index.js";
import type { EvaluationJson } from "../cvl/json.js";
import { CollectiveError } from "../errors.js";
import { formatIpv4 } from "../net/ipv4.js";
import type { Db } from "../state/database.js";
import { allocate, registeredPools, release } from "./allocations.js";
import { assertAllowed, programOrigins, type WithdrawnVersions } from "./blacklist.js";
import { checkFits, hostCapacity } from "./capacity.js";
import { assertComponent, isInside } from "./component-path.js";
import { defaultRoutesOf } from "./default-routes.js";
import { instanceId } from "./instance-id.js";
import { begin, finish, openOperations } from "./journal.js";
import { machineId, machineRequest } from "./machine-request.js";
import type { Manager } from "./manager.js";
import type { ProgramSource } from "./programs.js";
import { readyTimeoutMs } from "./reload.js";
import { SecretKeeper, type SecretValues, secretFiles, withSecretNames } from "./secret-files.js";
import { type DataKeeping, Updater } from "./update-operation.js";

/** What the CLI shows while an operation runs. */
export interface ProgressEvent {
  readonly component: string;
  /** "preparing", "starting", "waiting", "running", "stopping", "stopped", "failed". */
  readonly state: string;
  readonly detail?: string;
}

export type Progress = (event: ProgressEvent) => void;

/** Where a start's time went, in milliseconds from the request (for the daemon log and benchmarks). */
export interface StartTimings {
  readonly appliance: string;
  /** Import resolution, evaluation and every check. */
  evaluateMs: number;
  /** Capacity check and the allocation transaction (network ids, addresses, MACs, journal). */
  allocateMs: number;
  /** Bridges, the public network and the nft rules. */
  networkMs: number;
  /** Per wave: its components, when its last machine was launched and when its last one was ready. */
  waves: Array<{ components: number; launchedMs: number; readyMs: number }>;
  totalMs: number;
}

export interface OperationsOptions {
  readonly db: Db;
  readonly manager: Manager;
  readonly agent: HostAgent;
  readonly programs: ProgramSource;
  /** Where instances keep machine state and data disks. */
  readonly instancesDir: string;
  /** How long a component may take to become ready. */
  readonly readyTimeoutMs?: number;
  /** Called with the timings of every start that succeeds. */
  readonly onStartTimings?: (timings: StartTimings) => void;
  /** Snapshots and the attic, for updates; without it an update that replaces a program is refused. */
  readonly keeping?: DataKeeping;
  /** Versions publishers withdrew, refused like blacklisted ones; without it only the blacklist applies. */
  readonly withdrawn?: WithdrawnVersions;
}

export interface InstanceRow {
  id: string;
  file: string;
  object: string;
  desired: string;
  evaluation: string;
}

/** Without snapshots and an attic: an update that needs them says so rather than lose data. */
const noKeeping: DataKeeping = {
  snapshot: () =>
    Promise.reject(new CollectiveError("NOT_SUPPORTED", "this utility keeps no data snapshots")),
  restore: () => Promise.reject(new CollectiveError("NOT_SUPPORTED", "this utility keeps no data snapshots")),
  latest: () => undefined,
  toAttic: () => Promise.reject(new CollectiveError("NOT_SUPPORTED", "this utility has no attic")),
  prune: () => Promise.resolve(),
};

export class Operations {
  /** Instances with an operation under way in this process: a second one is refused, not queued. */
  private readonly busy = new Set<string>();

  private updater: Updater | undefined;
  /** Sensitive values given to running machines, in memory only (secret-files.ts). */
  readonly secrets = new SecretKeeper();

  constructor(private readonly options: OperationsOptions) {}

  /** Updates and rollbacks (update-operation.ts), sharing this object's busy set. */
  get updates(): Updater {
    this.updater ??= new Updater(this, { ...this.options, keeping: this.options.keeping ?? noKeeping });
    return this.updater;
  }

  private get db(): Db {
    return this.options.db;
  }

  /** @internal Marks an instance busy for one operation (start, stop, update, rollback). */
  claim(id: string, what: string): () => void {
    if (this.busy.has(id)) {
      throw new CollectiveError("BUSY", `${what} is already being started or stopped`, {
        hint: "wait for it to finish, then try again",
      });
    }
    this.busy.add(id);
    return () => this.busy.delete(id);
  }

  /** @internal */
  setComponent(
    instance: string,
    path: string,
    fields: {
      state: string;
      desired?: string;
      request?: string;
      repository?: string;
      version?: number;
      machineId?: string;
    },
  ): void {
    this.db
      .prepare(
        `UPDATE components SET state = ?, since = ?, desired = COALESCE(?, desired), request = COALESCE(?, request),
         repository = COALESCE(?, repository), version = COALESCE(?, version), machine_id = COALESCE(?, machine_id)
         WHERE instance_id = ? AND path = ?`,
      )
      .run(
        fields.state,
        new Date().toISOString(),
        fields.desired ?? null,
        fields.request ?? null,
        fields.repository ?? null,
        fields.version ?? null,
        fields.machineId ?? null,
        instance,
        path,
      );
  }

  /** `cui start`: evaluate, check, allocate, create networks, start components wave by wave. */
  async start(
    file: string,
    object: string | undefined,
    progress: Progress,
    options: { resume?: boolean; secrets?: SecretValues } = {},
  ): Promise<{ instance: string }> {
    const began = performance.now();
    const evaluation = await this.options.manager.evaluateForStart(file, object);
    const id = instanceId(file, evaluation.appliance);
    // A resumed start (the daemon restarted) has no values but those still in memory: none after a restart.
    const secrets = options.resume ? undefined : secretFiles(evaluation, options.secrets, file);
    const release = this.claim(id, `${evaluation.appliance} (${file})`);
    const timings: StartTimings = {
      appliance: evaluation.appliance,
      evaluateMs: performance.now() - began,
      allocateMs: 0,
      networkMs: 0,
      waves: [],
      totalMs: 0,
    };
    try {
      const result = await this.startClaimed(
        id,
        file,
        evaluation,
        progress,
        options.resume === true,
        secrets,
        (phase) => {
          const now = performance.now() - began;
          if (phase === "allocated") timings.allocateMs = now - timings.evaluateMs;
          else if (phase === "networks") timings.networkMs = now - timings.evaluateMs - timings.allocateMs;
          else if (phase === "launched") timings.waves.at(-1)!.launchedMs = now;
          else if (phase === "ready") timings.waves.at(-1)!.readyMs = now;
          else timings.waves.push({ components: phase.wave, launchedMs: 0, readyMs: 0 });
        },
      );
      timings.totalMs = performance.now() - began;
      this.options.onStartTimings?.(timings);
      return result;
    } finally {
      release();
    }
  }

  private async startClaimed(
    id: string,
    file: string,
    evaluation: Evaluation,
    progress: Progress,
    resume: boolean,
    secrets: Map<string, Record<string, Uint8Array>> | undefined,
    mark: (phase: "allocated" | "networks" | "launched" | "ready" | { wave: number }) => void,
  ): Promise<{ instance: string }> {
    const existing = this.db.prepare("SELECT desired FROM instances WHERE id = ?").get(id) as
      | { desired: string }
      | undefined;
    const resuming = existing?.desired === "running";
    // Finishing an interrupted start (reconcile) goes on even when every machine already runs: the
    // components' states and the wave order still have to be brought up to date.
    if (
      resuming &&
      !resume &&
      !openOperations(this.db).some((o) => o.instanceId === id) &&
      (await this.allRunning(id))
    ) {
      // Running, but the daemon restarted and forgot the sensitive values: `cui start` gives them again.
      const forgotten = this.secretsForgotten(id);
      if (secrets && forgotten.length > 0) {
        for (const path of forgotten) {
          const files = secrets.get(path);
          if (files) this.secrets.hold(machineId(id, path), files);
        }
        progress({
          component: evaluation.appliance,
          state: "running",
          detail: `already running; the sensitive values of ${forgotten.map((p) => p || evaluation.appliance).join(", ")} are held again for restarts`,
        });
        return { instance: id };
      }
      throw new CollectiveError(
        "ALREADY_RUNNING",
        `${evaluation.appliance} from ${file} is already running`,
        {
          hint: "'cui status' shows it; 'cui stop' stops it",
        },
      );
    }
    // The administrator's blacklist and the publishers' withdrawals, before anything is allocated.
    await assertAllowed(this.db, this.options.withdrawn, programOrigins(evaluation), {
      appliance: evaluation.appliance,
    });
    checkFits(hostCapacity(this.db), this.options.manager.usage(id), evaluation);
    const machines = evaluation.components.filter((c) => c.kind !== "van");
    let journal = 0;
    const allocations = this.db
      .transaction(() => {
        this.options.manager.insertInstance(id, file, evaluation, "running");
        const a = allocate(this.db, id, evaluation);
        const upsert = this.db.prepare(
          `INSERT INTO components (instance_id, path, kind, state, desired, since) VALUES (?, ?, ?, 'pending', 'running', ?)
         ON CONFLICT(instance_id, path) DO UPDATE SET desired = 'running'`,
        );
        for (const c of evaluation.components) upsert.run(id, c.path, c.kind, new Date().toISOString());
        journal = begin(this.db, id, "start", { file });
        return a;
      })
      .immediate();
    mark("allocated");

    const started: string[] = [];
    try {
      const { publicPool } = registeredPools(this.db);
      const usesPublic = allocations.interfaces.some((i) => i.network === "public");
      await this.options.agent.ensureNetworks(
        [...allocations.networks.values()],
        usesPublic ? publicPool : undefined,
      );
      mark("networks");
      const defaultRoutes = defaultRoutesOf(evaluation, allocations.values);
      const byPath = new Map(machines.map((c) => [c.path, c]));
      for (const wave of evaluation.startOrder) {
        mark({ wave: wave.length });
        let launched = 0;
        await Promise.all(
          wave.map(async (path) => {
            const component = byPath.get(path)!;
            const label = path || evaluation.appliance;
            progress({ component: label, state: "preparing" });
            const program = await this.options.programs.prepare(component);
            const request = withSecretNames(
              machineRequest({
                instanceId: id,
                component,
                allocations,
                program,
                instanceDir: join(this.options.instancesDir, id),
                defaultRoutes,
                publicGateway: formatIpv4(publicPool.hostAddress),
              }),
              secrets?.get(path) ?? this.secrets.get(machineId(id, path)),
            );
            this.setComponent(id, path, {
              state: "starting",
              request: JSON.stringify(request),
              machineId: request.spec.id,
              ...(program.repository ? { repository: program.repository, version: program.version! } : {}),
            });
            progress({ component: label, state: "starting" });
            await this.startWithSecrets(request, secrets?.get(path));
            started.push(request.spec.id);
            if (++launched === wave.length) mark("launched");
            this.setComponent(id, path, { state: "waiting" });
            progress({ component: label, state: "waiting", detail: "for readiness" });
            await this.options.agent.waitUntilReady(
              request.spec.id,
              readyTimeoutMs(component, this.options.readyTimeoutMs ?? 120_000),
            );
            this.setComponent(id, path, { state: "running" });
            progress({ component: label, state: "running" });
          }),
        );
        mark("ready");
      }
      for (const c of evaluation.components)
        if (c.kind === "van") this.setComponent(id, c.path, { state: "running" });
      finish(this.db, journal, "done");
      return { instance: id };
    } catch (error) {
      if (!resuming) {
        // A first start that fails leaves nothing behind: what it started is stopped, what it
        // allocated released. (Data disks it created stay: they are never deleted silently.)
        progress({
          component: evaluation.appliance,
          state: "failed",
          detail: error instanceof Error ? error.message : String(error),
        });
        // The start's own error is what the user must see; a failure while undoing is reported beside it.
        await this.undoStart(id, evaluation, started).catch((undoError: unknown) => {
          progress({
            component: evaluation.appliance,
            state: "failed",
            detail: `and undoing the start failed too: ${undoError instanceof Error ? undoError.message : String(undoError)}`,
          });
        });
        finish(this.db, journal, "undone", { error: error instanceof Error ? error.message : String(error) });
      } else {
        finish(this.db, journal, "failed", { error: error instanceof Error ? error.message : String(error) });
      }
      throw error;
    }
  }

  /**
   * @internal Starts a machine with its secret files. They travel only in this call's argument (the
   * stored request names them, never holds them) and are kept in memory for restarts.
   */
  async startWithSecrets(
    request: StartMachineRequest,
    files: Record<string, Uint8Array> | undefined,
  ): Promise<void> {
    await this.options.agent.startMachine(
      files ? { ...request, spec: { ...request.spec, secrets: files } } : request,
    );
    if (files) this.secrets.hold(request.spec.id, files);
  }

  /** Machines of an instance that were given sensitive values this daemon no longer holds. */
  secretsForgotten(id: string): string[] {
    const rows = this.db
      .prepare(
        "SELECT path, machine_id, request FROM components WHERE instance_id = ? AND request IS NOT NULL",
      )
      .all(id) as Array<{ path: string; machine_id: string; request: string }>;
    return rows
      .filter((r) => ((JSON.parse(r.request) as StartMachineRequest).secretNames ?? []).length > 0)
      .filter((r) => !this.secrets.has(r.machine_id))
      .map((r) => r.path);
  }

  private async allRunning(id: string): Promise<boolean> {
    const rows = this.db
      .prepare("SELECT machine_id FROM components WHERE instance_id = ? AND kind != 'van'")
      .all(id) as Array<{ machine_id: string | null }>;
    for (const r of rows) {
      if (!r.machine_id) return false;
      const state = await this.options.agent.inspectMachine(r.machine_id);
      if (state?.status !== "running") return false;
    }
    return true;
  }

  private async undoStart(id: string, evaluation: Evaluation, started: readonly string[]): Promise<void> {
    for (const machine of [...started].reverse()) {
      await this.options.agent.stopMachine(machine, 10).catch(() => undefined);
    }
    // Machines that were created but failed before they ran also hold a namespace: stop them too.
    for (const c of evaluation.components) {
      if (c.kind === "van") continue;
      const machine = machineId(id, c.path);
      if (!started.includes(machine))
        await this.options.agent.stopMachine(machine, 10).catch(() => undefined);
    }
    await this.releaseNetworks(id);
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM components WHERE instance_id = ?").run(id);
      this.db.prepare("DELETE FROM instances WHERE id = ?").run(id);
    })();
  }

  /** Removes the instance's bridges (and the public network when no one else uses it), then frees them. */
  async releaseNetworks(id: string): Promise<void> {
    const vnis = (
      this.db.prepare("SELECT vni FROM networks WHERE instance_id = ?").all(id) as Array<{ vni: number }>
    ).map((r) => r.vni);
    const othersPublic = this.db
      .prepare("SELECT COUNT(*) AS n FROM addresses WHERE network = 'public' AND instance_id != ?")
      .get(id) as { n: number };
    const mine = this.db
      .prepare("SELECT COUNT(*) AS n FROM addresses WHERE network = 'public' AND instance_id = ?")
      .get(id) as { n: number };
    await this.options.agent.removeNetworks(vnis, mine.n > 0 && othersPublic.n === 0);
    release(this.db, id);
  }

  /** @internal The running instance started from `file`. */
  instanceByFile(file: string): InstanceRow {
    const rows = this.db
      .prepare("SELECT * FROM instances WHERE file = ? AND desired = 'running'")
      .all(file) as InstanceRow[];
    if (rows.length === 0) {
      throw new CollectiveError("NOT_RUNNING", `nothing started from ${file} is running`, {
        hint: "'cui status' lists what runs",
      });
    }
    return rows[0]!;
  }

  /** `cui stop`: the whole appliance, or one component (and what is inside it), in reverse start order. */
  async stop(
    file: string,
    component: string | undefined,
    progress: Progress,
  ): Promise<{ stopped: string[] }> {
    const row = this.instanceByFile(file);
    const evaluation = JSON.parse(row.evaluation) as EvaluationJson;
    assertComponent(row.object, component, evaluation.components);
    const release = this.claim(row.id, `${row.object} (${file})`);
    try {
      const journal = begin(this.db, row.id, "stop", { file, component: component ?? null });
      const stopped = await this.stopComponents(row, evaluation, component, progress);
      if (component === undefined || component === "") {
        await this.releaseNetworks(row.id);
        this.db
          .prepare("UPDATE instances SET desired = 'stopped', updated_at = ? WHERE id = ?")
          .run(new Date().toISOString(), row.id);
        for (const c of evaluation.components)
          this.setComponent(row.id, c.path, { state: "stopped", desired: "stopped" });
      }
      finish(this.db, journal, "done");
      return { stopped };
    } finally {
      release();
    }
  }

  private async stopComponents(
    row: InstanceRow,
    evaluation: EvaluationJson,
    component: string | undefined,
    progress: Progress,
  ): Promise<string[]> {
    const inside = (path: string) => isInside(component, path);
    const stopped: string[] = [];
    for (const wave of [...evaluation.startOrder].reverse()) {
      await Promise.all(
        wave.filter(inside).map(async (path) => {
          const c = evaluation.components.find((x) => x.path === path)!;
          const label = path || evaluation.appliance;
          progress({ component: label, state: "stopping" });
          const timeout = Number(c.params.stoptimeout?.[0] ?? "180");
          await this.options.agent.stopMachine(machineId(row.id, path), timeout);
          this.setComponent(row.id, path, { state: "stopped", desired: "stopped" });
          this.secrets.drop(machineId(row.id, path));
          stopped.push(path);
          progress({ component: label, state: "stopped" });
        }),
      );
    }
    return stopped;
  }

  /**
   * After a daemon restart: finish what the journal says was under way, then make every component
   * that should run run, re-adopting those that kept running and restarting the ones that vanished
   * (a reboot) from their stored requests.
   */
  async reconcile(progress: Progress = () => {}): Promise<void> {
    for (const op of openOperations(this.db)) {
      const row = this.db.prepare("SELECT * FROM instances WHERE id = ?").get(op.instanceId) as
        | InstanceRow
        | undefined;
      const file = String(op.detail.file ?? row?.file ?? "");
      try {
        if (op.operation === "start" && row) {
          finish(this.db, op.id, "failed", { error: "interrupted; resumed by the next daemon" });
          await this.start(file, row.object, progress, { resume: true });
        } else if (op.operation === "update" && row) {
          await this.updates.resume(op, progress);
        } else if (op.operation === "stop" && row) {
          finish(this.db, op.id, "failed", { error: "interrupted; resumed by the next daemon" });
          const component = op.detail.component;
          await this.stop(file, typeof component === "string" ? component : undefined, progress);
        } else finish(this.db, op.id, "failed", { error: "interrupted" });
      } catch (error) {
        progress({
          component: row?.object ?? op.instanceId,
          state: "failed",
          detail: error instanceof Error ? error.message : String(error),
        });
      }
    }
    // Then every instance that should run, wave by wave as a start would, each wave ready before the
    // next; one machine that cannot come back is reported, and the others still are brought back.
    const instances = this.db
      .prepare("SELECT * FROM instances WHERE desired = 'running'")
      .all() as InstanceRow[];
    for (const instance of instances) {
      const rows = this.db
        .prepare(
          "SELECT path, machine_id, request FROM components WHERE instance_id = ? AND desired = 'running' AND kind != 'van' AND request IS NOT NULL",
        )
        .all(instance.id) as Array<{ path: string; machine_id: string; request: string }>;
      const byPath = new Map(rows.map((r) => [r.path, r]));
      const waves = (JSON.parse(instance.evaluation) as EvaluationJson).startOrder;
      for (const wave of waves) {
        await Promise.all(
          wave.map(async (path) => {
            const r = byPath.get(path);
            if (!r) return;
            try {
              const state = await this.options.agent.inspectMachine(r.machine_id);
              // "restarting" is started in full too: after a reboot the driver cannot restart it by itself.
              if (state?.status === "running") return;
              progress({
                component: path || instance.object,
                state: "starting",
                detail: "bringing back what should run",
              });
              const request = JSON.parse(r.request) as StartMachineRequest;
              if ((request.secretNames ?? []).length > 0 && !this.secrets.has(r.machine_id)) {
                this.setComponent(instance.id, path, { state: "needs-secrets" });
                throw new CollectiveError(
                  "SECRETS_FORGOTTEN",
                  `it must start again, and its sensitive values (${request.secretNames!.join(", ")}) were held only in the memory of the daemon that started it`,
                  { hint: `give them again with 'cui start ${instance.file}'` },
                );
              }
              const vnis = this.db
                .prepare("SELECT vni FROM networks WHERE instance_id = ?")
                .all(instance.id) as Array<{
                vni: number;
              }>;
              const usesPublic = request.interfaces.some((i) => i.network === "public");
              await this.options.agent.ensureNetworks(
                vnis.map((v) => v.vni),
                usesPublic ? registeredPools(this.db).publicPool : undefined,
              );
              await this.startWithSecrets(request, this.secrets.get(r.machine_id));
              await this.options.agent.waitUntilReady(r.machine_id, this.options.readyTimeoutMs ?? 120_000);
              this.setComponent(instance.id, path, { state: "running" });
              progress({ component: path || instance.object, state: "running" });
            } catch (error) {
              this.setComponent(instance.id, path, {
                state: (error as CollectiveError).code === "SECRETS_FORGOTTEN" ? "needs-secrets" : "failed",
              });
              progress({
                component: path || instance.object,
                state: "failed",
                detail: error instanceof Error ? error.message : String(error),
              });
            }
          }),
        );
      }
    }
  }
}
