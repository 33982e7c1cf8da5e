/**
 * What an update would do (paper, section 5.3): the difference between what runs (each component's
 * stored agent request, version and repository) and what the re-evaluated file asks for, one action per
 * component with its reason. Pure: the manager gathers both sides, this decides. `cui plan` shows the
 * result, `cui update` applies exactly it.
 */
import type { StartMachineRequest } from "../agent/host-agent.js";
import { isInside } from "./component-path.js";

export type UpdateActionKind = "start" | "stop" | "update" | "reconfigure" | "attic" | "none";

/** A parameter's old and new values; null when unset. Sensitive ones show as ["(sensitive)"]. */
export interface ParamChange {
  readonly old: readonly string[] | null;
  readonly new: readonly string[] | null;
}

export interface UpdateAction {
  readonly action: UpdateActionKind;
  readonly path: string;
  readonly kind: "van" | "vm" | "container";
  readonly reason: string;
  /** The version running now (null: none, or not from a repository). */
  readonly from: number | null;
  /** The version the update runs (null: none, or not from a repository). */
  readonly to: number | null;
  readonly repository: string | null;
  readonly params: Record<string, ParamChange>;
  /** Whether applying it stops the machine (update) or starts one (start). */
  readonly restarts: boolean;
  /** Whether it replaces the program (a new version or image): the data disks are snapshotted first. */
  readonly newProgram: boolean;
}

/** A component as it runs now. */
export interface RunningComponent {
  readonly path: string;
  readonly kind: "van" | "vm" | "container";
  readonly repository: string | null;
  readonly version: number | null;
  /** The request it was started with; null for VANs and for machines never started. */
  readonly request: StartMachineRequest | null;
  readonly sensitive: readonly string[];
}

/** A component as the re-evaluated file describes it. */
export interface DesiredComponent {
  readonly path: string;
  readonly kind: "van" | "vm" | "container";
  readonly repository: string | null;
  readonly version: number | null;
  /** The program tree a local appliance's image names (absolute); null for repository programs. */
  readonly image: string | null;
  /**
   * The request it would be started with, built over the running program (so a changed version shows
   * only as a version change); undefined for VANs.
   */
  readonly request: StartMachineRequest | undefined;
  readonly sensitive: readonly string[];
  /** Whether the appliance takes new parameters without a restart (CVL reload is not "restart"). */
  readonly reloads: boolean;
  /** Sensitive parameters whose values changed (known when the update brings the values). */
  readonly secretsChanged?: readonly string[];
}

export interface PlanInput {
  readonly running: readonly RunningComponent[];
  readonly desired: readonly DesiredComponent[];
  /** Only this component and what is inside it; undefined: everything. */
  readonly only: string | undefined;
  /** Start order of the new evaluation (waves), and of the running one (for removed components). */
  readonly startOrder: readonly (readonly string[])[];
  readonly runningStartOrder: readonly (readonly string[])[];
}

/** The CVL parameter behind each machine spec field, for reasons a user recognises. */
const specFieldNames: Record<string, string> = {
  programPath: "image",
  process: "command",
  memoryMiB: "memory",
  cpus: "cpus",
  capabilities: "capabilities",
  dataDisks: "datadisks",
  hostname: "name",
  readiness: "healthcheck",
  stopTimeoutSec: "stoptimeout",
  restart: "restart",
  sysctls: "sysctls",
};

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Parameters whose values differ, non-sensitive with values, sensitive by name only. */
export function paramChanges(
  old: Readonly<Record<string, readonly string[]>>,
  next: Readonly<Record<string, readonly string[]>>,
  oldSensitive: readonly string[] = [],
  newSensitive: readonly string[] = [],
): Record<string, ParamChange> {
  const out: Record<string, ParamChange> = {};
  for (const name of [...new Set([...Object.keys(old), ...Object.keys(next)])].sort()) {
    const a = old[name] ?? null;
    const b = next[name] ?? null;
    if (!same(a, b)) out[name] = { old: a, new: b };
  }
  const masked = ["(sensitive)"];
  for (const name of oldSensitive) if (!newSensitive.includes(name)) out[name] = { old: masked, new: null };
  for (const name of newSensitive) if (!oldSensitive.includes(name)) out[name] = { old: null, new: masked };
  return out;
}

/** Which parts of a machine other than its parameters differ (by CVL name): those need a restart. */
export function restartReasons(old: StartMachineRequest, next: StartMachineRequest): string[] {
  const reasons: string[] = [];
  const a = old.spec as unknown as Record<string, unknown>;
  const b = next.spec as unknown as Record<string, unknown>;
  for (const [field, name] of Object.entries(specFieldNames)) {
    if (!same(a[field], b[field])) reasons.push(name);
  }
  if (!same(old.interfaces, next.interfaces)) reasons.push("network interfaces");
  return reasons;
}

function describeParams(changes: Record<string, ParamChange>): string {
  return Object.keys(changes).join(", ");
}

function versionText(version: number | null): string {
  return version === null ? "a local image" : `version ${version}`;
}

/** The actions, in the order an update applies them: removals last (after every gate has passed). */
export function planUpdate(input: PlanInput): UpdateAction[] {
  const running = new Map(input.running.map((c) => [c.path, c]));
  const desired = new Map(input.desired.map((c) => [c.path, c]));
  const actions: UpdateAction[] = [];
  const order = (waves: readonly (readonly string[])[], known: ReadonlyMap<string, unknown>) => {
    const listed = waves.flat();
    // VANs are not in the start order (it lists machines): put them first, by path.
    const rest = [...known.keys()].filter((p) => !listed.includes(p)).sort();
    return [...rest, ...listed.filter((p) => known.has(p))];
  };
  for (const path of order(input.startOrder, desired)) {
    const next = desired.get(path)!;
    const now = running.get(path);
    const base = {
      path,
      kind: next.kind,
      from: now?.version ?? null,
      to: next.version,
      repository: next.repository,
    };
    if (!isInside(input.only, path)) {
      actions.push({
        ...base,
        action: "none",
        reason: `not selected (only ${input.only} and what is inside it)`,
        params: {},
        restarts: false,
        newProgram: false,
      });
      continue;
    }
    if (now === undefined || (now.kind !== "van" && now.request === null)) {
      actions.push({
        ...base,
        action: "start",
        reason: now === undefined ? "new in the file" : "was never started",
        params: {},
        restarts: next.kind !== "van",
        newProgram: false,
      });
      continue;
    }
    if (next.kind === "van" || now.request === null || next.request === undefined) {
      actions.push({
        ...base,
        action: "none",
        reason: "a VAN: its network stays; its members are planned one by one",
        params: {},
        restarts: false,
        newProgram: false,
      });
      continue;
    }
    const params = paramChanges(
      now.request.spec.params ?? {},
      next.request.spec.params ?? {},
      now.sensitive,
      next.sensitive,
    );
    for (const name of next.secretsChanged ?? [])
      params[name] ??= { old: ["(sensitive)"], new: ["(sensitive, changed)"] };
    const programChanged =
      now.repository !== next.repository ||
      now.version !== next.version ||
      (next.version === null && now.request.spec.programPath !== next.image);
    if (programChanged) {
      const what =
        now.repository !== next.repository && now.repository !== null && next.repository !== null
          ? `its repository changed (${now.repository} -> ${next.repository})`
          : `${versionText(now.version)} -> ${versionText(next.version)}`;
      actions.push({
        ...base,
        action: "update",
        reason: `new program: ${what}; restarts on the new program, data disks kept`,
        params,
        restarts: true,
        newProgram: true,
      });
      continue;
    }
    const restartFor = restartReasons(now.request, next.request);
    if (restartFor.length > 0) {
      actions.push({
        ...base,
        action: "update",
        reason: `${restartFor.join(", ")} changed; that takes a restart`,
        params,
        restarts: true,
        newProgram: false,
      });
      continue;
    }
    if (Object.keys(params).length === 0) {
      actions.push({
        ...base,
        action: "none",
        reason: "unchanged",
        params,
        restarts: false,
        newProgram: false,
      });
      continue;
    }
    actions.push(
      next.reloads
        ? {
            ...base,
            action: "reconfigure",
            reason: `parameters changed (${describeParams(params)}); delivered without a restart`,
            params,
            restarts: false,
            newProgram: false,
          }
        : {
            ...base,
            action: "update",
            reason: `parameters changed (${describeParams(params)}) and the appliance cannot reload (reload = "restart")`,
            params,
            restarts: true,
            newProgram: false,
          },
    );
  }
  const removed = order(input.runningStartOrder, running)
    .filter((path) => !desired.has(path))
    .reverse();
  for (const path of removed) {
    const now = running.get(path)!;
    const base = {
      path,
      kind: now.kind,
      from: now.version,
      to: null,
      repository: now.repository,
      params: {},
    };
    if (!isInside(input.only, path)) {
      actions.push({
        ...base,
        action: "none",
        reason: `gone from the file, but not selected (only ${input.only})`,
        restarts: false,
        newProgram: false,
      });
    } else if (now.kind === "van") {
      actions.push({
        ...base,
        action: "stop",
        reason: "gone from the file: its network is removed",
        restarts: false,
        newProgram: false,
      });
    } else {
      actions.push({
        ...base,
        action: "attic",
        reason: "gone from the file: stopped, its data disks and state moved to the attic",
        restarts: false,
        newProgram: false,
      });
    }
  }
  return actions;
}
