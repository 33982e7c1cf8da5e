/**
 * Where the utility keeps its state on a host. One directory (default /var/lib/collective; --state-dir
 * or COLLECTIVE_STATE_DIR to move it, which tests always do) holds the database, the API socket, the
 * API token, the daemon's log and the instances' files.
 */
import { join, resolve } from "node:path";

export interface StatePaths {
  readonly root: string;
  readonly database: string;
  /** The API's unix socket (mode 0600). */
  readonly socket: string;
  /** The bearer token every API caller presents (mode 0600). */
  readonly token: string;
  readonly log: string;
  readonly pid: string;
  /** Per-instance files: program layers, data disks, logs. */
  readonly instances: string;
  /** Data and state of components removed by an update, kept until `cui attic purge`. */
  readonly attic: string;
  /** Copies of data disks taken before an update replaces a program (for rollback). */
  readonly snapshots: string;
}

export const DEFAULT_STATE_DIR = "/var/lib/collective";

export function statePaths(stateDir?: string): StatePaths {
  const root = resolve(stateDir ?? process.env.COLLECTIVE_STATE_DIR ?? DEFAULT_STATE_DIR);
  return {
    root,
    database: join(root, "state.db"),
    socket: join(root, "cui.sock"),
    token: join(root, "api.token"),
    log: join(root, "daemon.log"),
    pid: join(root, "daemon.pid"),
    instances: join(root, "instances"),
    attic: join(root, "attic"),
    snapshots: join(root, "snapshots"),
  };
}
