/**
 * Gathers both sides of an update for the planner: what runs (the components table: stored requests,
 * versions) and what the re-evaluated file asks for (requests built over the running programs, with
 * allocations filled in). Shared by `cui plan` (allocations previewed and rolled back) and `cui update`.
 */
import { dirname, resolve } from "node:path";
import type { StartMachineRequest } from "../agent/host-agent.js";
import { type EvaluatedComponent, type Evaluation, valueSource } from "../cvl/index.js";
import type { EvaluationJson } from "../cvl/json.js";
import { display } from "../cvl/values.js";
import { formatIpv4 } from "../net/ipv4.js";
import type { Db } from "../state/database.js";
import { type Allocations, registeredPools } from "./allocations.js";
import { assertComponent } from "./component-path.js";
import { defaultRoutesOf } from "./default-routes.js";
import { machineRequest, type ProgramInfo } from "./machine-request.js";
import { reloadOf } from "./reload.js";
import type { DesiredComponent, PlanInput, RunningComponent } from "./update-plan.js";

export interface ComponentRow {
  path: string;
  kind: "van" | "vm" | "container";
  state: string;
  desired: string;
  machine_id: string | null;
  request: string | null;
  repository: string | null;
  version: number | null;
  previous_request: string | null;
  previous_repository: string | null;
  previous_version: number | null;
}

export function componentRows(db: Db, instanceId: string): ComponentRow[] {
  return db
    .prepare("SELECT * FROM components WHERE instance_id = ? ORDER BY path")
    .all(instanceId) as ComponentRow[];
}

/** Where a component's program comes from, without fetching it. */
export function programOrigin(c: EvaluatedComponent): {
  repository: string | null;
  version: number | null;
  image: string | null;
} {
  if (c.kind === "van") return { repository: null, version: null, image: null };
  const source = valueSource(c, "image") ?? valueSource(c, "vm");
  if (source?.origin) {
    return { repository: source.origin.repository, version: source.origin.version, image: null };
  }
  const image = (c.params.get("image") ?? c.params.get("vm") ?? []).map(display)[0];
  return {
    repository: null,
    version: null,
    image: image !== undefined && source ? resolve(dirname(source.location), image) : null,
  };
}

/** The running program of a stored request, as the request builder wants it. */
export function programOf(request: StartMachineRequest): ProgramInfo {
  const p = request.spec.process;
  return {
    path: request.spec.programPath,
    defaults: {
      args: [...p.args],
      ...(p.env ? { env: { ...p.env } } : {}),
      ...(p.workingDir ? { workingDir: p.workingDir } : {}),
      ...(p.user ? { user: p.user } : {}),
    },
  };
}

export interface UpdateInputs {
  readonly plan: PlanInput;
  /** The new evaluation's components by path. */
  readonly components: ReadonlyMap<string, EvaluatedComponent>;
  readonly rows: ReadonlyMap<string, ComponentRow>;
}

export function updateInputs(
  db: Db,
  instanceId: string,
  running: EvaluationJson,
  evaluation: Evaluation,
  allocations: Allocations,
  only: string | undefined,
): UpdateInputs {
  // A component of the new file, or one the update would take away.
  assertComponent(evaluation.appliance, only, [...evaluation.components, ...running.components]);
  const rows = new Map(componentRows(db, instanceId).map((r) => [r.path, r]));
  const runningComponents: RunningComponent[] = running.components.map((c) => {
    const row = rows.get(c.path);
    return {
      path: c.path,
      kind: c.kind as RunningComponent["kind"],
      repository: row?.repository ?? null,
      version: row?.version ?? null,
      request: row?.request ? (JSON.parse(row.request) as StartMachineRequest) : null,
      sensitive: c.sensitive,
    };
  });
  const byPath = new Map(runningComponents.map((c) => [c.path, c]));
  const defaultRoutes = defaultRoutesOf(evaluation, allocations.values);
  const publicGateway = formatIpv4(registeredPools(db).publicPool.hostAddress);
  const desired: DesiredComponent[] = evaluation.components.map((c) => {
    const origin = programOrigin(c);
    const now = byPath.get(c.path)?.request ?? null;
    let request: StartMachineRequest | undefined;
    if (c.kind !== "van" && now !== null) {
      // Built over the running program: a new version shows as a version change, not as a new image.
      request = machineRequest({
        instanceId,
        component: c,
        allocations,
        program: programOf(now),
        instanceDir: dirname(dirname(now.spec.stateDir)),
        defaultRoutes,
        publicGateway,
      });
    }
    return {
      path: c.path,
      kind: c.kind,
      ...origin,
      request,
      sensitive: c.sensitive,
      reloads: c.kind === "van" ? false : reloadOf(c) !== "restart",
    };
  });
  return {
    plan: {
      running: runningComponents,
      desired,
      only: only === "" ? undefined : only,
      startOrder: evaluation.startOrder,
      runningStartOrder: running.startOrder,
    },
    components: new Map(evaluation.components.map((c) => [c.path, c])),
    rows,
  };
}
