/**
 * Where a container instance keeps its things inside its state dir. One place, so that start, stop,
 * remove and adoption agree on every path, and remove deletes only what the driver created.
 */
import { join } from "node:path";

export interface InstanceLayout {
  readonly stateDir: string;
  /** The driver's record of the instance (machine-record.ts). */
  readonly record: string;
  readonly bundle: string;
  readonly config: string;
  /** Overlayfs: upper and work dirs, and the merged root filesystem runc runs in. */
  readonly upper: string;
  readonly work: string;
  readonly rootfs: string;
  readonly params: string;
  /** A tmpfs mounted on the host, bound read-only into the container. */
  readonly secrets: string;
  /** Bound read-write at /run/collective/status: the sd_notify socket and the ready file. */
  readonly status: string;
  readonly notifySocket: string;
  readonly readyFile: string;
  /** Data disks are mounted here on the host, then bound into the container. */
  readonly disks: string;
  readonly logs: string;
  readonly consoleLog: string;
  readonly runcLog: string;
}

/** Things in the state dir that remove() deletes; data disk images are never among them. */
export const removableEntries = [
  "machine.json",
  "bundle",
  "upper",
  "work",
  "rootfs",
  "params.json",
  "secrets",
  "status",
  "disks",
  "logs",
] as const;

export function instanceLayout(stateDir: string): InstanceLayout {
  const bundle = join(stateDir, "bundle");
  const status = join(stateDir, "status");
  const logs = join(stateDir, "logs");
  return {
    stateDir,
    record: join(stateDir, "machine.json"),
    bundle,
    config: join(bundle, "config.json"),
    upper: join(stateDir, "upper"),
    work: join(stateDir, "work"),
    rootfs: join(stateDir, "rootfs"),
    params: join(stateDir, "params.json"),
    secrets: join(stateDir, "secrets"),
    status,
    notifySocket: join(status, "notify.sock"),
    readyFile: join(status, "ready"),
    disks: join(stateDir, "disks"),
    logs,
    consoleLog: join(logs, "console.log"),
    runcLog: join(logs, "runc.log"),
  };
}

/** Paths as the container sees them. */
export const inContainer = {
  base: "/run/collective",
  params: "/run/collective/params.json",
  secrets: "/run/collective/secrets",
  status: "/run/collective/status",
  notifySocket: "/run/collective/status/notify.sock",
  readyFile: "/run/collective/status/ready",
} as const;
