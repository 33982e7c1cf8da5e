/**
 * The manager: the only writer of the utility's truth (instances, components, allocations, pools,
 * capacity). It evaluates CVL, plans, allocates and, through the host agent interface, acts. This file
 * holds the operations that need no host agent (plan, status, pools, capacity); starting and stopping
 * are added on top of the agent boundary.
 */

import { formatDiagnostic } from "../cvl/diagnostics.js";
import type { EvaluateOptions, Evaluation } from "../cvl/index.js";
import { evaluateFile } from "../cvl/index.js";
import { evaluationToJson } from "../cvl/json.js";
import { CollectiveError } from "../errors.js";
import { formatIpv4Block } from "../net/ipv4.js";
import { parsePublicPool } from "../net/public-pool.js";
import { checkVniPoolAvoids, parseVniPool } from "../net/van-subnet.js";
import type { Db } from "../state/database.js";
import { allocate, registeredPools } from "./allocations.js";
import { checkFits, type HostCapacity, hostCapacity, setHostCapacity, type Usage } from "./capacity.js";
import { instanceId } from "./instance-id.js";
import { resolveParams } from "./resolve-params.js";
import { programOrigin } from "./update-inputs.js";
import type { UpdateAction } from "./update-plan.js";

export interface ManagerOptions {
  readonly db: Db;
  /** How CVL imports are resolved (repositories through the host cache, local files). */
  readonly resolver: EvaluateOptions["resolver"];
}

export interface ComponentStatusJson {
  path: string;
  kind: string;
  state: string;
  version: number | null;
  repository: string | null;
  interfaces: Record<string, { ip: string; mac: string }>;
  since: string;
  restarts: number;
  /**
   * Sensitive values: "none" (it has no sensitive parameters), "held" (in the daemon's memory, so it can
   * be started again unattended), "forgotten" (the daemon restarted: a reboot or full restart of it needs
   * 'cui start' again to give them).
   */
  secrets: "none" | "held" | "forgotten";
}

/** `cui status --json`, a public contract. */
export interface StatusJson {
  appliances: Array<{
    file: string;
    name: string;
    instance: string;
    state: string;
    components: ComponentStatusJson[];
  }>;
}

function secretsState(
  c: { machine_id: string | null; request: string | null },
  held: (machineId: string) => boolean,
): "none" | "held" | "forgotten" {
  const names = c.request ? ((JSON.parse(c.request) as { secretNames?: string[] }).secretNames ?? []) : [];
  if (names.length === 0 || !c.machine_id) return "none";
  return held(c.machine_id) ? "held" : "forgotten";
}

export class Manager {
  constructor(private readonly options: ManagerOptions) {}

  private get db(): Db {
    return this.options.db;
  }

  /** Evaluates a file for a start: every required parameter must have a value. Errors become one report. */
  async evaluateForStart(file: string, object?: string): Promise<Evaluation> {
    const result = await evaluateFile(file, {
      resolver: this.options.resolver,
      object,
      requireComplete: true,
    });
    if (!result.evaluation) {
      const errors = result.diagnostics.filter((d) => d.severity === "error");
      throw new CollectiveError(
        "CVL_ERRORS",
        `${file} cannot be started: ${errors.length} problem${errors.length === 1 ? "" : "s"}\n${errors.map((d) => formatDiagnostic(d)).join("\n")}`,
        { hint: "fix them and try again ('cui check --complete' shows the same report)" },
      );
    }
    return result.evaluation;
  }

  /** What a start would do, with allocations filled in, without changing anything. */
  async plan(file: string, object?: string): Promise<Record<string, unknown>> {
    const evaluation = await this.evaluateForStart(file, object);
    const id = instanceId(file, evaluation.appliance);
    const running = this.db.prepare("SELECT desired FROM instances WHERE id = ?").get(id) as
      | { desired: string }
      | undefined;
    checkFits(hostCapacity(this.db), this.usage(id), evaluation);
    // Allocate inside a transaction that is rolled back: the plan shows real addresses, holds none.
    let preview: ReturnType<typeof allocate> | undefined;
    this.db.exec("BEGIN IMMEDIATE");
    try {
      if (!running) this.insertInstance(id, file, evaluation, "stopped");
      preview = allocate(this.db, id, evaluation);
    } finally {
      this.db.exec("ROLLBACK");
    }
    const json = evaluationToJson(evaluation);
    for (const component of json.components) {
      const evaluated = evaluation.components.find((c) => c.path === component.path)!;
      component.params = resolveParams(evaluated, preview.values).params;
      component.pending = component.pending.filter((name) =>
        component.params[name]?.some((v) => v.includes("${")),
      );
    }
    const actions: UpdateAction[] = evaluation.components
      .filter((c) => c.kind !== "van")
      .map((c) => {
        const origin = programOrigin(c);
        const runs = running?.desired === "running";
        return {
          action: runs ? "none" : "start",
          path: c.path,
          kind: c.kind,
          reason: runs ? "already running" : "not running yet",
          from: null,
          to: origin.version,
          repository: origin.repository,
          params: {},
          restarts: !runs,
          newProgram: false,
        };
      });
    return {
      ...json,
      instance: id,
      networks: Object.fromEntries(preview.networks),
      interfaces: preview.interfaces,
      unconnected: preview.topology.unconnected,
      actions,
    };
  }

  insertInstance(id: string, file: string, evaluation: Evaluation, desired: "running" | "stopped"): void {
    const now = new Date().toISOString();
    this.db
      .prepare(
        "INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET desired = excluded.desired, evaluation = excluded.evaluation, updated_at = excluded.updated_at",
      )
      .run(id, file, evaluation.appliance, desired, JSON.stringify(evaluationToJson(evaluation)), now, now);
  }

  /** Memory and machines held by instances other than `except`. */
  usage(except?: string): Usage {
    const rows = this.db
      .prepare("SELECT id, evaluation FROM instances WHERE desired = 'running' AND id IS NOT ?")
      .all(except ?? null) as Array<{ id: string; evaluation: string }>;
    let memoryMiB = 0;
    let machines = 0;
    for (const row of rows) {
      const json = JSON.parse(row.evaluation) as ReturnType<typeof evaluationToJson>;
      for (const c of json.components) {
        if (c.kind === "van") continue;
        machines++;
        memoryMiB += Number(c.params.memory?.[0] ?? "256");
      }
    }
    return { memoryMiB, machines };
  }

  status(file?: string, held: (machineId: string) => boolean = () => false): StatusJson {
    const rows = (
      file === undefined
        ? this.db.prepare("SELECT * FROM instances ORDER BY created_at").all()
        : this.db.prepare("SELECT * FROM instances WHERE file = ? ORDER BY created_at").all(file)
    ) as Array<{ id: string; file: string; object: string; desired: string }>;
    const components = this.db.prepare("SELECT * FROM components WHERE instance_id = ? ORDER BY path");
    const addresses = this.db.prepare("SELECT interface, ip, mac FROM addresses WHERE instance_id = ?");
    return {
      appliances: rows.map((row) => {
        // "d.ethernet0" belongs to component "d"; a root machine's "ethernet0" to "".
        const interfacesOf = new Map<string, Record<string, { ip: string; mac: string }>>();
        for (const a of addresses.all(row.id) as Array<{ interface: string; ip: string; mac: string }>) {
          const dot = a.interface.lastIndexOf(".");
          const component = dot < 0 ? "" : a.interface.slice(0, dot);
          const own = interfacesOf.get(component) ?? {};
          own[a.interface.slice(dot + 1)] = { ip: a.ip, mac: a.mac };
          interfacesOf.set(component, own);
        }
        const list = components.all(row.id) as Array<{
          path: string;
          kind: string;
          state: string;
          version: number | null;
          repository: string | null;
          since: string;
          restarts: number;
          machine_id: string | null;
          request: string | null;
        }>;
        return {
          file: row.file,
          name: row.object,
          instance: row.id,
          state: row.desired,
          components: list.map((c) => ({
            path: c.path,
            kind: c.kind,
            state: c.state,
            version: c.version,
            repository: c.repository,
            interfaces: interfacesOf.get(c.path) ?? {},
            since: c.since,
            restarts: c.restarts,
            secrets: secretsState(c, held),
          })),
        };
      }),
    };
  }

  pools(): { vni: string; public: string } {
    const { vni, publicPool } = registeredPools(this.db);
    return { vni: `${vni.first}-${vni.last}`, public: formatIpv4Block(publicPool.block) };
  }

  /** Registers the network id pool or the public pool (replacing the previous one of that kind). */
  setPool(kind: "vni" | "public", spec: string): { vni: string; public: string } {
    const current = registeredPools(this.db);
    const vni = kind === "vni" ? parseVniPool(spec) : current.vni;
    const pub = kind === "public" ? parsePublicPool(spec) : current.publicPool;
    checkVniPoolAvoids(vni, pub.block, "public pool");
    const inUse = this.db
      .prepare("SELECT vni FROM networks WHERE vni < ? OR vni > ?")
      .all(vni.first, vni.last) as Array<{ vni: number }>;
    if (kind === "vni" && inUse.length > 0) {
      throw new CollectiveError(
        "POOL_IN_USE",
        `network ids ${inUse.map((r) => r.vni).join(", ")} are in use and outside ${spec}`,
        { hint: "stop the VANs that use them first, or choose a pool that contains them" },
      );
    }
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM pools WHERE kind = ?").run(kind);
      this.db.prepare("INSERT INTO pools (kind, spec) VALUES (?, ?)").run(kind, spec);
    })();
    return this.pools();
  }

  capacity(): HostCapacity & { used: Usage } {
    return { ...hostCapacity(this.db), used: this.usage() };
  }

  setCapacity(change: { memoryMiB?: number; maxMachines?: number }): HostCapacity {
    return setHostCapacity(this.db, change);
  }
}
