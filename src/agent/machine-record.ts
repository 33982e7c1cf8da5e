/**
 * What the container driver remembers about an instance, in its state dir (machine.json), so that a new
 * agent can adopt it: the desired state, the process it started, readiness, restarts, and the parts of
 * the spec that stop, restart and readiness need. Never any sensitive value. An index of ids under the
 * driver's state root points at each instance's state dir.
 */
import { mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MachineExit, MachineStatus, Readiness, RestartPolicy } from "./driver.js";

export interface MachineRecord {
  readonly id: string;
  readonly stateDir: string;
  desired: "running" | "stopped";
  status: MachineStatus;
  ready: boolean;
  pid: number | undefined;
  pidStartTime: string | undefined;
  since: string;
  restarts: number;
  /** Consecutive crashes without a long enough run in between (drives the backoff). */
  crashStreak: number;
  lastExit: MachineExit | undefined;
  notifyListenerPid: number | undefined;
  readiness: Readiness;
  restart: RestartPolicy;
  stopTimeoutSec: number;
  dataDiskImages: string[];
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, path);
}

export async function saveRecord(path: string, record: MachineRecord): Promise<void> {
  await writeAtomically(path, `${JSON.stringify(record, null, 2)}\n`);
}

export async function loadRecord(path: string): Promise<MachineRecord | undefined> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as MachineRecord;
  } catch {
    return undefined;
  }
}

/** The index: <root>/machines/<id>.json → {"stateDir": ...}. */
export class MachineIndex {
  private readonly dir: string;

  constructor(stateRoot: string) {
    this.dir = join(stateRoot, "machines");
  }

  async add(id: string, stateDir: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeAtomically(join(this.dir, `${id}.json`), `${JSON.stringify({ stateDir })}\n`);
  }

  async remove(id: string): Promise<void> {
    await unlink(join(this.dir, `${id}.json`)).catch(() => undefined);
  }

  async stateDirOf(id: string): Promise<string | undefined> {
    const text = await readFile(join(this.dir, `${id}.json`), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      return (JSON.parse(text) as { stateDir?: string }).stateDir;
    } catch {
      return undefined;
    }
  }

  async ids(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith(".json")).map((name) => name.slice(0, -".json".length));
  }
}
