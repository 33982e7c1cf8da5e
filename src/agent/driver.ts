/**
 * The machine driver interface: what the host agent asks of every kind of machine appliance (containers
 * under runc now, VMs under qemu later). One contract test suite (driver.contract.ts) holds every driver
 * to the same behaviour: start/stop/remove are idempotent, a new driver object adopts what an earlier one
 * started, stop is graceful then forced, crashes are noticed and restarted per the restart policy.
 */

/** How the driver decides that a started machine is ready for its dependents. */
export type Readiness =
  | { readonly kind: "none" }
  | { readonly kind: "tcp"; readonly port: number; readonly host?: string }
  | { readonly kind: "http"; readonly port: number; readonly path?: string; readonly host?: string }
  | { readonly kind: "exec"; readonly command: readonly string[] }
  /** The sd_notify protocol: READY=1 on the datagram socket named by $NOTIFY_SOCKET. */
  | { readonly kind: "notify" }
  /** A file the appliance creates when ready; default /run/collective/status/ready. */
  | { readonly kind: "file"; readonly path?: string };

/** "no": never restart; "on-failure": restart when it stops without being asked; "always": also on boot. */
export type RestartPolicy = "no" | "on-failure" | "always";

export interface DataDisk {
  /** The disk's name in CVL (`datadisks`), e.g. "sdb"; names its mount in the state dir. */
  readonly device: string;
  readonly sizeMiB: number;
  /** Absolute path inside the machine where it is mounted, e.g. /var/lib/postgresql. */
  readonly mount: string;
  /** The host file that holds the disk; created (sparse, ext4) when missing, never recreated. */
  readonly imagePath: string;
}

/** The program to run: an explicit argv, or the image's configuration (entrypoint + cmd). */
export interface ProcessSpec {
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly workingDir?: string;
  /** "uid", "uid:gid", "name" or "name:group" (names looked up in the program tree's /etc/passwd). */
  readonly user?: string;
}

export interface MachineSpec {
  /** Unique on the host; names the runc container and cgroup. Validated by checkId. */
  readonly id: string;
  /** The read-only program tree (container) or base image (vm) from the host cache. Shared; never written. */
  readonly programPath: string;
  /** The instance's own directory: copy-on-write layer, logs, parameters, the driver's record. */
  readonly stateDir: string;
  readonly process: ProcessSpec;
  readonly memoryMiB: number;
  readonly cpus?: number;
  /** Extra capabilities the appliance declares (e.g. "NET_ADMIN" or "CAP_NET_ADMIN"). */
  readonly capabilities?: readonly string[];
  readonly dataDisks?: readonly DataDisk[];
  /** Non-sensitive parameters, delivered in /run/collective/params.json. */
  readonly params?: Readonly<Record<string, readonly string[]>>;
  /** Sensitive parameters, delivered as files under /run/collective/secrets/; never stored on disk. */
  readonly secrets?: Readonly<Record<string, Uint8Array>>;
  /** A network namespace prepared by the network layer; absent: a private one with only loopback. */
  readonly netnsPath?: string;
  readonly hostname?: string;
  /** Kernel parameters of the machine's own network namespace (net.* only), e.g. net.ipv4.ip_forward. */
  readonly sysctls?: Readonly<Record<string, string>>;
  readonly readiness?: Readiness;
  /** Seconds between SIGTERM and SIGKILL. Default 180 (the paper's three minutes). */
  readonly stopTimeoutSec?: number;
  readonly restart?: RestartPolicy;
  /**
   * Discard the instance's copy-on-write layer before starting (an update to a new program tree): the
   * machine starts on the pristine program. Ignored while it runs; data disks are never touched.
   */
  readonly resetProgramLayer?: boolean;
}

/** How a running machine takes new parameters without a restart (CVL `reload`). */
export type Reload =
  /** SIGHUP to the machine's first process (its init), the Unix convention for "read your config again". */
  | { readonly kind: "signal" }
  /** A command run inside the machine; a non-zero exit status is a failed reload. */
  | { readonly kind: "exec"; readonly command: readonly string[] };

export interface Reconfiguration {
  /** The machine's new non-sensitive parameters (all of them, not a difference). */
  readonly params: Readonly<Record<string, readonly string[]>>;
  /** New sensitive parameters; absent: the secrets files stay as they are. */
  readonly secrets?: Readonly<Record<string, Uint8Array>>;
  readonly reload: Reload;
  /** How long a reload command may run. Default 30 s. */
  readonly timeoutMs?: number;
}

export type MachineStatus =
  /** Started, process alive. */
  | "running"
  /** Exited without being asked; a restart is scheduled (backoff). */
  | "restarting"
  /** Exited without being asked and will not be restarted (policy "no", or its resources are gone). */
  | "exited"
  /** Stopped on request; kernel objects released, state dir and data disks kept. */
  | "stopped";

export interface MachineExit {
  readonly at: string;
  readonly reason: string;
}

export interface MachineState {
  readonly id: string;
  readonly driver: string;
  readonly status: MachineStatus;
  /** Whether the declared readiness condition was met since the last (re)start. */
  readonly ready: boolean;
  readonly pid: number | undefined;
  /** When the current status began (ISO 8601). */
  readonly since: string;
  /** Restarts after crashes since the machine was started. */
  readonly restarts: number;
  readonly lastExit: MachineExit | undefined;
  readonly stateDir: string;
}

export interface StopOptions {
  /** Overrides the spec's stopTimeoutSec. */
  readonly timeoutSec?: number;
}

export interface LogOptions {
  /** Keep following the log until the signal aborts (or the machine is removed). */
  readonly follow?: boolean;
  /** Start with only the last N lines. */
  readonly tail?: number;
  readonly signal?: AbortSignal;
}

export interface WaitReadyOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface MachineDriver {
  /** "container" or "vm". */
  readonly kind: string;
  /**
   * Creates what is missing (copy-on-write layer, data disks, parameter files) and starts the machine.
   * Resolves once the process runs (not necessarily ready: see waitUntilReady). Starting a machine that
   * already runs returns its state (the caller may be retrying after a crash).
   */
  start(spec: MachineSpec): Promise<MachineState>;
  /** SIGTERM (or ACPI power-down), SIGKILL after the timeout, then releases every kernel object. */
  stop(id: string, options?: StopOptions): Promise<void>;
  /** Stops if needed and deletes the instance's state; data disk image files stay. Idempotent. */
  remove(id: string): Promise<void>;
  /** The machine's state, or undefined when this host has no such machine. */
  inspect(id: string): Promise<MachineState | undefined>;
  /**
   * Every machine on this host, adopting those started by an earlier driver (agent restart): from then on
   * this driver watches them (exits, restarts, readiness). An agent calls it once when it starts.
   */
  list(): Promise<MachineState[]>;
  /** Resolves when the machine is ready; rejects when it exits for good or the timeout passes. */
  waitUntilReady(id: string, options: WaitReadyOptions): Promise<MachineState>;
  /**
   * Delivers new parameters to a running machine without restarting it: params.json (and the secrets
   * files) are rewritten in place, so the appliance sees them at the same path, then the machine is told
   * (SIGHUP or its reload command). Its process, start time and connections stay.
   */
  reconfigure(id: string, change: Reconfiguration): Promise<void>;
  /** The machine's console output (stdout and stderr), bounded on disk. */
  logs(id: string, options?: LogOptions): AsyncIterable<string>;
  /** Stops watching machines (the agent shuts down); the machines themselves keep running. */
  close(): Promise<void>;
}
