/**
 * Routes for automatic updates: the per-file setting (on/off, maintenance window) and a check now.
 * The checks themselves run in the daemon on a timer (manager/autoupdate.ts).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AutoUpdater } from "../../manager/autoupdate.js";
import { errorResponses } from "../api-errors.js";

const Setting = z
  .object({
    file: z.string(),
    enabled: z.boolean(),
    window: z.string().nullable(),
    lastCheck: z.string().nullable(),
    lastResult: z.string().nullable(),
  })
  .openapi("AutoUpdateSetting");

export function registerAutoUpdateRoutes(app: OpenAPIHono, autoupdater: AutoUpdater): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/autoupdate",
      summary: "Automatic update settings, and the last check of each",
      responses: {
        200: {
          description: "settings",
          content: { "application/json": { schema: z.object({ settings: z.array(Setting) }) } },
        },
        ...errorResponses,
      },
    }),
    (c) => c.json({ settings: autoupdater.list() }, 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/autoupdate",
      summary: "Turn automatic updates of a running appliance on or off, with an optional window",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.object({
                file: z.string().min(1),
                enabled: z.boolean(),
                window: z.string().nullable().optional().openapi({ example: "02:00-04:30" }),
              }),
            },
          },
        },
      },
      responses: {
        200: { description: "the setting", content: { "application/json": { schema: Setting } } },
        ...errorResponses,
      },
    }),
    (c) => {
      const { file, enabled, window } = c.req.valid("json");
      return c.json(autoupdater.set(file, enabled, window ?? null), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/autoupdate/check",
      summary: "Check now (ignoring the window): apply what the appliances with automatic updates on need",
      request: {
        body: { content: { "application/json": { schema: z.object({ file: z.string().optional() }) } } },
      },
      responses: {
        200: {
          description: "the settings after the check",
          content: { "application/json": { schema: z.object({ settings: z.array(Setting) }) } },
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { file } = c.req.valid("json");
      await autoupdater.checkAll({ ...(file ? { file } : {}), force: true });
      return c.json({ settings: autoupdater.list() }, 200);
    },
  );
}
