/**
 * A host's capacity (paper, 5: memory and the maximum number of machine appliances), with defaults from
 * the machine itself that the administrator can change, and the check that refuses a start that does not
 * fit, saying what it needs and what is free.
 */
import { totalmem } from "node:os";
import type { Evaluation } from "../cvl/index.js";
import { display } from "../cvl/values.js";
import { CollectiveError } from "../errors.js";
import type { Db } from "../state/database.js";

export interface HostCapacity {
  readonly id: string;
  readonly memoryMiB: number;
  readonly maxMachines: number;
}

export const LOCAL_HOST = "local";

/** Defaults: the machine's memory less 1 GiB for the host itself, and 64 machine appliances. */
export function defaultCapacity(): HostCapacity {
  return {
    id: LOCAL_HOST,
    memoryMiB: Math.max(256, Math.floor(totalmem() / 1048576) - 1024),
    maxMachines: 64,
  };
}

export function hostCapacity(db: Db): HostCapacity {
  const row = db.prepare("SELECT id, memory_mib, max_machines FROM hosts WHERE id = ?").get(LOCAL_HOST) as
    | { id: string; memory_mib: number; max_machines: number }
    | undefined;
  return row ? { id: row.id, memoryMiB: row.memory_mib, maxMachines: row.max_machines } : defaultCapacity();
}

export function setHostCapacity(db: Db, change: { memoryMiB?: number; maxMachines?: number }): HostCapacity {
  const current = hostCapacity(db);
  const next = { ...current, ...change };
  for (const [field, value] of [
    ["memory", next.memoryMiB],
    ["max machines", next.maxMachines],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new CollectiveError("BAD_VALUE", `${field} must be a positive integer, not ${value}`);
    }
  }
  db.prepare(
    "INSERT INTO hosts (id, memory_mib, max_machines) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET memory_mib = excluded.memory_mib, max_machines = excluded.max_machines",
  ).run(LOCAL_HOST, next.memoryMiB, next.maxMachines);
  return next;
}

/** Memory in MiB a component asks for (the prelude's default is 256). */
export function memoryOf(component: Evaluation["components"][number]): number {
  const value = component.params.get("memory");
  const text = value && value.length === 1 ? display(value[0]!) : "256";
  const mib = Number(text);
  if (!Number.isInteger(mib) || mib < 1) {
    throw new CollectiveError(
      "BAD_VALUE",
      `${component.path || component.name}.memory is "${text}"; it must be a whole number of MiB`,
    );
  }
  return mib;
}

export interface Usage {
  readonly memoryMiB: number;
  readonly machines: number;
}

/** Refuses a start that does not fit beside what already runs. */
export function checkFits(
  capacity: HostCapacity,
  inUse: Usage,
  evaluation: Evaluation,
  alreadyCounted = 0,
): Usage {
  const machines = evaluation.components.filter((c) => c.kind !== "van");
  const need = {
    memoryMiB: machines.reduce((sum, c) => sum + memoryOf(c), 0),
    machines: machines.length - alreadyCounted,
  };
  const freeMemory = capacity.memoryMiB - inUse.memoryMiB;
  const freeMachines = capacity.maxMachines - inUse.machines;
  if (need.memoryMiB > freeMemory || need.machines > freeMachines) {
    throw new CollectiveError(
      "NO_CAPACITY",
      `${evaluation.appliance} does not fit on this host: it needs ${need.memoryMiB} MiB for ${need.machines} machine appliance(s); free are ${freeMemory} MiB of ${capacity.memoryMiB} and ${freeMachines} of ${capacity.maxMachines} machines`,
      {
        hint: "stop something that runs, lower the appliances' memory parameters, or raise the host's capacity with 'cui host set --memory MIB --max-machines N'",
      },
    );
  }
  return need;
}
