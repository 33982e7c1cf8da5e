import { z } from "@hono/zod-openapi";

/**
 * The values of sensitive parameters, by component path and parameter, from the user agent via the CLI.
 * Held in the daemon's memory only: never logged, stored, or sent back in any response.
 */
export const SecretsBody = z
  .record(z.string(), z.record(z.string(), z.string()))
  .optional()
  .openapi({ description: "sensitive values by component path, then parameter name (never echoed)" });
