/**
 * Routes for updates (paper, section 5.3): the update plan, applying it, rolling back, and the history
 * of every update, manual or automatic.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Operations, ProgressEvent } from "../../manager/operations.js";
import { errorResponses } from "../api-errors.js";
import { SecretsBody } from "../api-secrets.js";

export interface UpdateRouteOptions {
  readonly operations: Operations;
  readonly streamed: (
    c: Context,
    run: (progress: (e: ProgressEvent) => void) => Promise<unknown>,
  ) => Response;
}

const Target = z.object({
  file: z.string().min(1).openapi({ description: "absolute path of the CVL file it was started from" }),
  component: z.string().optional().openapi({ description: "only this component (and what is inside it)" }),
});

const ParamChange = z.object({
  old: z.array(z.string()).nullable(),
  new: z.array(z.string()).nullable(),
});
const Action = z
  .object({
    action: z.enum(["start", "stop", "update", "reconfigure", "attic", "none"]),
    path: z.string(),
    kind: z.string(),
    reason: z.string(),
    from: z.number().nullable(),
    to: z.number().nullable(),
    repository: z.string().nullable(),
    params: z.record(z.string(), ParamChange),
    restarts: z.boolean(),
    newProgram: z.boolean(),
  })
  .openapi("UpdateAction");
const UpdatePlan = z
  .object({ instance: z.string(), appliance: z.string(), actions: z.array(Action) })
  .openapi("UpdatePlan");
const HistoryEntry = z
  .object({
    id: z.number(),
    at: z.string(),
    action: z.string(),
    path: z.string().nullable(),
    from: z.number().nullable(),
    to: z.number().nullable(),
    automatic: z.boolean(),
    outcome: z.string(),
    note: z.string(),
  })
  .openapi("HistoryEntry");

const ndjson = {
  200: {
    description: "progress lines, then a result or error line",
    content: { "application/x-ndjson": { schema: z.string() } },
  },
};

export function registerUpdateRoutes(app: OpenAPIHono, options: UpdateRouteOptions): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/update/plan",
      summary: "What 'cui update' would do to a running appliance, with reasons, changing nothing",
      request: { query: Target },
      responses: {
        200: { description: "the plan", content: { "application/json": { schema: UpdatePlan } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { file, component } = c.req.valid("query");
      const plan = await options.operations.updates.plan(file, component);
      return c.json(
        { instance: plan.instance, appliance: plan.appliance, actions: plan.actions } as never,
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/update",
      summary: "Re-resolve, re-evaluate and apply the difference (streams progress)",
      request: {
        body: {
          content: {
            "application/json": {
              schema: Target.extend({
                secrets: SecretsBody,
                dryRun: z.boolean().optional().openapi({ description: "only plan (with the values given)" }),
              }),
            },
          },
        },
      },
      responses: { ...ndjson, ...errorResponses },
    }),
    (c) => {
      const { file, component, secrets, dryRun } = c.req.valid("json");
      return options.streamed(c, (progress) =>
        dryRun
          ? options.operations.updates.plan(file, component, secrets)
          : options.operations.updates.update(file, component, progress, secrets ? { secrets } : {}),
      ) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/rollback",
      summary: "Go back to the previous version, and with data to its snapshot (streams progress)",
      request: {
        body: {
          content: {
            "application/json": {
              schema: Target.extend({ data: z.boolean().optional(), secrets: SecretsBody }),
            },
          },
        },
      },
      responses: { ...ndjson, ...errorResponses },
    }),
    (c) => {
      const { file, component, data, secrets } = c.req.valid("json");
      return options.streamed(c, (progress) =>
        options.operations.updates.rollback(file, component, data === true, progress, secrets),
      ) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/history",
      summary: "Every update and rollback of the appliances started from a file, oldest first",
      request: { query: z.object({ file: z.string().min(1) }) },
      responses: {
        200: {
          description: "history",
          content: { "application/json": { schema: z.object({ entries: z.array(HistoryEntry) }) } },
        },
        ...errorResponses,
      },
    }),
    (c) => {
      const { file } = c.req.valid("query");
      return c.json({ entries: options.operations.updates.historyOf(file) }, 200);
    },
  );
}
