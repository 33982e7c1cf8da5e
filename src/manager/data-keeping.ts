/**
 * The snapshots (snapshots.ts) and the attic (attic.ts) as an update uses them, over one state dir.
 * Snapshots are pruned by the retention policy (COLLECTIVE_SNAPSHOT_KEEP, default 3 per component).
 */
import type { Db } from "../state/database.js";
import { moveToAttic } from "./attic.js";
import {
  latestSnapshot,
  pruneSnapshots,
  restoreSnapshot,
  snapshotRetention,
  takeSnapshot,
} from "./snapshots.js";
import type { DataKeeping } from "./update-operation.js";

export function stateDirKeeping(input: {
  db: Db;
  instancesDir: string;
  snapshotsDir: string;
  atticDir: string;
}): DataKeeping {
  const snapshots = { db: input.db, instancesDir: input.instancesDir, snapshotsDir: input.snapshotsDir };
  const attic = { db: input.db, instancesDir: input.instancesDir, atticDir: input.atticDir };
  return {
    snapshot: async (what) => {
      const taken = await takeSnapshot(snapshots, what);
      return taken.disks.length > 0 ? { id: taken.id } : undefined;
    },
    restore: (id, machineId) => restoreSnapshot(snapshots, id, { machineId }),
    latest: (instanceId, path) => latestSnapshot(input.db, instanceId, path)?.id,
    toAttic: async (what) => {
      const moved = await moveToAttic(attic, what);
      return { id: moved.id ?? "(nothing to keep)" };
    },
    prune: async (instanceId, path) => {
      await pruneSnapshots(snapshots, instanceId, path, snapshotRetention());
    },
  };
}
