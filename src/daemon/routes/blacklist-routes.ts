/**
 * The administrator's blacklist over the API: entries (list, add, remove) and the violations, the
 * components that run a blacklisted or withdrawn version, which are listed and stopped only on request
 * (paper, 5.3: running violators are never stopped silently).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  addBlacklistEntry,
  listBlacklist,
  removeBlacklistEntry,
  type Violation,
  violations,
  type WithdrawnVersions,
} from "../../manager/blacklist.js";
import type { Operations, ProgressEvent } from "../../manager/operations.js";
import type { Db } from "../../state/database.js";

export interface BlacklistRoutesOptions {
  readonly db: Db;
  readonly operations: Operations;
  /** Publishers' withdrawals, which count as blacklisted; absent: the administrator's entries only. */
  readonly withdrawn?: WithdrawnVersions | undefined;
}

/** What createApi shares with route modules: its error responses and its ndjson streaming. */
type JsonResponse = { description: string; content: { "application/json": { schema: z.ZodType } } };
export interface RouteKit {
  readonly errorResponses: Readonly<Record<400 | 401 | 409 | 500, JsonResponse>>;
  readonly ndjson: {
    readonly 200: { description: string; content: { "application/x-ndjson": { schema: z.ZodType } } };
  };
  readonly streamed: (c: Context, run: (progress: (e: ProgressEvent) => void) => Promise<unknown>) => unknown;
}

const Entry = z
  .object({
    id: z.number(),
    repository: z.string(),
    versions: z.string(),
    reason: z.string().nullable(),
    addedAt: z.string(),
  })
  .openapi("BlacklistEntry");

const ViolationJson = z
  .object({
    file: z.string(),
    instance: z.string(),
    object: z.string(),
    path: z.string(),
    repository: z.string(),
    version: z.number(),
    entry: Entry.optional(),
    reason: z.string(),
  })
  .openapi("BlacklistViolation");

const Violations = z
  .object({
    violations: z.array(ViolationJson),
    unchecked: z.array(z.object({ repository: z.string(), error: z.string() })),
  })
  .openapi("BlacklistViolations");

const EntrySpec = z.object({
  repository: z.string().min(1).openapi({
    description:
      "the repository as cui status --json shows it: an absolute path, file://, http:// or https:// URL",
    example: "https://apps.example.org/dns",
  }),
  versions: z.string().min(1).openapi({
    description: "N, N-M (inclusive), <N, <=N, >N, >=N or all",
    example: "3-5",
  }),
});

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export function registerBlacklistRoutes(
  app: OpenAPIHono,
  options: BlacklistRoutesOptions,
  kit: RouteKit,
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/blacklist",
      summary: "The administrator's blacklist: repository versions that are refused",
      responses: {
        200: json(z.object({ entries: z.array(Entry) }), "the entries, oldest first"),
        ...kit.errorResponses,
      },
    }),
    (c) => c.json({ entries: listBlacklist(options.db) }, 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/blacklist",
      summary: "Blacklist versions of a repository",
      request: {
        body: {
          required: true,
          content: {
            "application/json": {
              schema: EntrySpec.extend({
                reason: z.string().optional().openapi({ example: "CVE-2026-1234" }),
              }),
            },
          },
        },
      },
      responses: {
        201: json(z.object({ entry: Entry }), "the entry"),
        ...kit.errorResponses,
      },
    }),
    (c) => c.json({ entry: addBlacklistEntry(options.db, c.req.valid("json")) }, 201),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/blacklist/{id}",
      summary: "Remove a blacklist entry by its id",
      request: {
        params: z.object({
          id: z.string().regex(/^[1-9][0-9]{0,15}$/, { message: "an entry id is a whole number from 1" }),
        }),
      },
      responses: {
        200: json(z.object({ removed: Entry }), "the entry removed"),
        ...kit.errorResponses,
      },
    }),
    (c) => c.json({ removed: removeBlacklistEntry(options.db, Number(c.req.valid("param").id)) }, 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/blacklist",
      summary: "Remove the blacklist entry with this repository and version spec",
      request: { query: EntrySpec },
      responses: {
        200: json(z.object({ removed: Entry }), "the entry removed"),
        ...kit.errorResponses,
      },
    }),
    (c) => c.json({ removed: removeBlacklistEntry(options.db, c.req.valid("query")) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/blacklist/violations",
      summary: "Components that should run and run a blacklisted or withdrawn version",
      responses: {
        200: json(Violations, "the violations, and repositories whose withdrawals could not be read"),
        ...kit.errorResponses,
      },
    }),
    async (c) => c.json(await violations(options.db, options.withdrawn), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/blacklist/violations/stop",
      summary: "Stop the violating components, or those of them listed (streams progress)",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.object({
                components: z
                  .array(z.object({ file: z.string().min(1), path: z.string() }))
                  .optional()
                  .openapi({ description: "only these (as the violations listed them); absent: all" }),
              }),
            },
          },
        },
      },
      responses: { ...kit.ndjson, ...kit.errorResponses },
    }),
    (c) => {
      const only = c.req.valid("json").components;
      return kit.streamed(c, async (progress) => {
        const report = await violations(options.db, options.withdrawn);
        let targets = report.violations;
        if (only !== undefined)
          targets = targets.filter((v) => only.some((o) => o.file === v.file && o.path === v.path));
        return stopViolators(options.operations, targets, progress);
      }) as never;
    },
  );
}

/**
 * Stops each violator through the ordinary stop; a failure is reported and the others still stop. A
 * violating root machine stops its whole appliance, so its other violators need no stop of their own.
 */
async function stopViolators(
  operations: Operations,
  targets: readonly Violation[],
  progress: (e: ProgressEvent) => void,
): Promise<{
  stopped: Array<{ file: string; path: string }>;
  failed: Array<{ file: string; path: string; error: string }>;
}> {
  const stopped: Array<{ file: string; path: string }> = [];
  const failed: Array<{ file: string; path: string; error: string }> = [];
  const wholeInstances = new Set(targets.filter((t) => t.path === "").map((t) => t.instance));
  for (const target of targets) {
    if (target.path !== "" && wholeInstances.has(target.instance)) continue;
    try {
      await operations.stop(target.file, target.path, progress);
      stopped.push({ file: target.file, path: target.path });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failed.push({ file: target.file, path: target.path, error: message });
      progress({ component: target.path || target.object, state: "failed", detail: message });
    }
  }
  return { stopped, failed };
}
