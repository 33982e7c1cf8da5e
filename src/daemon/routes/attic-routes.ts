/**
 * The attic and snapshot routes: list, restore and purge attic entries, list data disk snapshots.
 * Moving a component to the attic and taking snapshots are steps of `cui update`, not routes.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { HostAgent } from "../../agent/host-agent.js";
import type { EvaluationJson } from "../../cvl/json.js";
import { decodeMap } from "../../cvl/values.js";
import { CollectiveError } from "../../errors.js";
import { atticEntry, listAttic, purgeAttic, restoreFromAttic } from "../../manager/attic.js";
import { instanceId } from "../../manager/instance-id.js";
import { machineId } from "../../manager/machine-request.js";
import { listSnapshots, readSnapshotManifest } from "../../manager/snapshots.js";
import type { Db } from "../../state/database.js";
import type { StatePaths } from "../paths.js";

export interface AtticRouteOptions {
  readonly db: Db;
  readonly paths: Pick<StatePaths, "instances" | "attic" | "snapshots">;
  readonly agent: Pick<HostAgent, "inspectMachine">;
}

const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }),
});
const errors = {
  400: { description: "bad request", content: { "application/json": { schema: ErrorBody } } },
  401: { description: "no or wrong token", content: { "application/json": { schema: ErrorBody } } },
  404: { description: "no such entry", content: { "application/json": { schema: ErrorBody } } },
  500: { description: "the utility failed", content: { "application/json": { schema: ErrorBody } } },
} as const;

const Disk = z.object({
  file: z.string(),
  size: z.number().openapi({ description: "apparent size, bytes" }),
});
const AtticEntry = z
  .object({
    id: z.string().openapi({ example: "20261123T174501Z-Acme-db" }),
    instanceId: z.string(),
    file: z.string(),
    object: z.string(),
    path: z.string().openapi({ description: "the component's dotted path when it was removed" }),
    repository: z.string().nullable(),
    version: z.number().nullable(),
    dir: z.string(),
    reason: z.string(),
    at: z.string(),
    disks: z.array(Disk).optional().openapi({ description: "data disk images still in the entry" }),
    restored: z
      .object({
        instanceId: z.string(),
        machineId: z.string(),
        path: z.string(),
        to: z.string(),
        at: z.string(),
      })
      .optional(),
  })
  .openapi("AtticEntry");
const RestoreResult = z
  .object({
    entry: z.string(),
    file: z.string(),
    instance: z.string(),
    component: z.string(),
    disks: z.array(z.string()),
    to: z.string(),
    notes: z.array(z.string()),
  })
  .openapi("AtticRestore");
const Snapshot = z
  .object({
    id: z.string(),
    instanceId: z.string(),
    path: z.string(),
    repository: z.string().nullable(),
    version: z.number().nullable(),
    dir: z.string(),
    reason: z.string(),
    at: z.string(),
    disks: z.array(Disk),
    damaged: z.string().optional().openapi({ description: "why the snapshot cannot be restored" }),
  })
  .openapi("Snapshot");

const EntryParam = z.object({ id: z.string().min(1).openapi({ example: "20261123T174501Z-Acme-db" }) });
const COMPONENT_PATH = /^([A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*)?$/;

interface InstanceRow {
  id: string;
  object: string;
  desired: string;
  evaluation: string;
}

/** The image files a component's current evaluation declares (datadisks device => name.img). */
function declaredImages(evaluation: EvaluationJson, path: string): string[] | undefined {
  const component = evaluation.components.find((c) => c.path === path);
  if (component === undefined) return undefined;
  return (component.params.datadisks ?? []).flatMap((text) =>
    decodeMap(text)
      .filter(([key]) => key === "device")
      .map(([, values]) => `${values.join(",").replace(/:/g, "_")}.img`),
  );
}

export function registerAtticRoutes(app: OpenAPIHono, options: AtticRouteOptions): void {
  const ctx = { db: options.db, instancesDir: options.paths.instances, atticDir: options.paths.attic };
  // Restores and purges run one at a time: two restores into one name, or a restore racing a purge of
  // its entry, would otherwise both pass their checks.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(run: () => Promise<T>): Promise<T> => {
    const next = queue.then(run, run);
    queue = next.catch(() => undefined);
    return next;
  };

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/attic",
      summary: "Data and state of removed components, newest first",
      responses: {
        200: {
          description: "the attic",
          content: { "application/json": { schema: z.object({ entries: z.array(AtticEntry) }) } },
        },
        ...errors,
      },
    }),
    async (c) => c.json({ entries: await listAttic(options.db, options.paths.attic) }, 200),
  );

  /** Resolves the target (file, instance, component), checks it is stopped, restores, adds notes. */
  const restore = async (id: string, body: { file?: string | undefined; component?: string | undefined }) => {
    const entry = atticEntry(options.db, id);
    const file = body.file ?? entry.file;
    const path = body.component ?? entry.path;
    if (!COMPONENT_PATH.test(path)) {
      throw new CollectiveError(
        "BAD_VALUE",
        `"${path}" is not a component path (e.g. db, or g.f for f inside g)`,
      );
    }
    const rows = options.db
      .prepare("SELECT id, object, desired, evaluation FROM instances WHERE file = ?")
      .all(file) as InstanceRow[];
    const row =
      rows.find((r) => file === entry.file && r.object === entry.object) ??
      rows.find((r) => r.desired === "running") ??
      rows[0];
    if (row === undefined && file !== entry.file) {
      throw new CollectiveError("NOT_FOUND", `nothing was ever started from ${file}`, {
        hint: "start it first, or restore into the entry's own file",
      });
    }
    const instance = row?.id ?? instanceId(file, entry.object);
    const object = row?.object ?? entry.object;
    const evaluation = row ? (JSON.parse(row.evaluation) as EvaluationJson) : undefined;
    const name = path || "(root)";
    if (evaluation?.components.find((x) => x.path === path)?.kind === "van") {
      throw new CollectiveError(
        "BAD_VALUE",
        `${name} of ${object} is a VAN; data disks belong to a machine component inside it`,
      );
    }
    const machine = machineId(instance, path);
    const component = options.db
      .prepare("SELECT state FROM components WHERE instance_id = ? AND path = ?")
      .get(instance, path) as { state: string } | undefined;
    const live = await options.agent.inspectMachine(machine).catch(() => undefined);
    if (
      live?.status === "running" ||
      live?.status === "restarting" ||
      ["running", "starting", "waiting"].includes(component?.state ?? "")
    ) {
      throw new CollectiveError("RUNNING", `${name} of ${object} is running`, {
        hint: `stop it first: cui stop ${file}${path ? ` ${path}` : ""}`,
      });
    }
    const result = await restoreFromAttic(ctx, entry.id, {
      instanceId: instance,
      machineId: machine,
      path,
    });
    const notes: string[] = [];
    const declared = evaluation ? declaredImages(evaluation, path) : undefined;
    if (declared === undefined) {
      notes.push(
        `${name} is not a component of ${object} yet: its disks are used when a component of that path first starts (add it to the file, then 'cui update' or 'cui start')`,
      );
    } else {
      const unused = result.disks.filter((disk) => !declared.includes(disk));
      if (unused.length > 0) {
        notes.push(
          `${name} declares no data disk for ${unused.join(", ")} (it declares ${declared.length ? declared.join(", ") : "none"}): declare the device in its datadisks to use it`,
        );
      }
    }
    return { entry: entry.id, file, instance, component: path, disks: result.disks, to: result.to, notes };
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/attic/{id}/restore",
      summary: "Move an entry's data disks back, as the data disks of a component that has none",
      request: {
        params: EntryParam,
        body: {
          content: {
            "application/json": {
              schema: z.object({
                file: z
                  .string()
                  .min(1)
                  .optional()
                  .openapi({ description: "absolute path of the target CVL file; default: the entry's" }),
                component: z
                  .string()
                  .optional()
                  .openapi({ description: "the target component path; default: the entry's" }),
              }),
            },
          },
        },
      },
      responses: {
        200: { description: "restored", content: { "application/json": { schema: RestoreResult } } },
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const id = c.req.valid("param").id;
      return c.json(await serially(() => restore(id, body)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/attic/{id}",
      summary: "Delete an attic entry and everything in it (the only way anything leaves the attic)",
      request: { params: EntryParam },
      responses: {
        200: {
          description: "purged",
          content: { "application/json": { schema: z.object({ purged: z.string() }) } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { id } = await serially(() => purgeAttic(ctx, c.req.valid("param").id));
      return c.json({ purged: id }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/snapshots",
      summary: "Data disk snapshots taken before updates, newest first",
      request: {
        query: z.object({
          file: z
            .string()
            .min(1)
            .optional()
            .openapi({ description: "only those of what this CVL file started" }),
        }),
      },
      responses: {
        200: {
          description: "snapshots",
          content: { "application/json": { schema: z.object({ snapshots: z.array(Snapshot) }) } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { file } = c.req.valid("query");
      if (
        file !== undefined &&
        options.db.prepare("SELECT 1 FROM instances WHERE file = ?").get(file) === undefined
      ) {
        throw new CollectiveError("NOT_FOUND", `nothing was ever started from ${file}`, {
          hint: "'cui status' lists what was started",
        });
      }
      const snapshots = await Promise.all(
        listSnapshots(options.db, file === undefined ? {} : { file }).map(async (snapshot) => {
          const none: Array<{ file: string; size: number }> = [];
          try {
            const manifest = await readSnapshotManifest(options.paths.snapshots, snapshot.id);
            return { ...snapshot, disks: manifest.disks.map((d) => ({ file: d.file, size: d.size })) };
          } catch (error) {
            return {
              ...snapshot,
              disks: none,
              damaged: error instanceof Error ? error.message : String(error),
            };
          }
        }),
      );
      return c.json({ snapshots }, 200);
    },
  );
}
