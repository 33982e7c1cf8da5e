/** The API's one error body and the error responses every route declares (shared by all route files). */
import { z } from "@hono/zod-openapi";

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }) })
  .openapi("Error");

export const errorResponses = {
  400: { description: "bad request", content: { "application/json": { schema: ErrorBody } } },
  401: { description: "no or wrong token", content: { "application/json": { schema: ErrorBody } } },
  409: {
    description: "conflicts with the current state",
    content: { "application/json": { schema: ErrorBody } },
  },
  500: { description: "the utility failed", content: { "application/json": { schema: ErrorBody } } },
} as const;
