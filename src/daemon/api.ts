/**
 * The utility's HTTP+JSON API. Routes are declared with zod schemas, which validate every request and
 * generate the OpenAPI document served at /openapi.json (so the document cannot drift from the code).
 * Every caller authenticates with the bearer token; every error leaves through one handler as
 * { "error": { "code", "message", "hint" } }.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { stream } from "hono/streaming";
import type { HostAgent } from "../agent/host-agent.js";
import { CollectiveError, isCollectiveError } from "../errors.js";
import type { AutoUpdater } from "../manager/autoupdate.js";
import type { WithdrawnVersions } from "../manager/blacklist.js";
import { machineId } from "../manager/machine-request.js";
import type { Manager } from "../manager/manager.js";
import type { Operations, ProgressEvent } from "../manager/operations.js";
import { secretNeedsOf } from "../manager/secret-files.js";
import type { Db } from "../state/database.js";
import { type ErrorBody, errorResponses } from "./api-errors.js";
import { SecretsBody } from "./api-secrets.js";
import type { StatePaths } from "./paths.js";
import { registerAtticRoutes } from "./routes/attic-routes.js";
import { registerAutoUpdateRoutes } from "./routes/autoupdate-routes.js";
import { registerBlacklistRoutes } from "./routes/blacklist-routes.js";
import { registerUpdateRoutes } from "./routes/update-routes.js";
import { tokenMatches } from "./token.js";

const FileQuery = z.object({
  file: z.string().min(1).openapi({ description: "absolute path of the CVL file", example: "/srv/acme.cvl" }),
  object: z.string().optional().openapi({ description: "the object to run when the file defines several" }),
});

const Health = z
  .object({ ok: z.boolean(), version: z.string(), build: z.string(), pid: z.number() })
  .openapi("Health");
const Pools = z.object({ vni: z.string(), public: z.string() }).openapi("Pools");
const Capacity = z
  .object({
    id: z.string(),
    memoryMiB: z.number(),
    maxMachines: z.number(),
    used: z.object({ memoryMiB: z.number(), machines: z.number() }).optional(),
  })
  .openapi("Capacity");
const ComponentStatus = z.object({
  path: z.string(),
  kind: z.string(),
  state: z.string(),
  version: z.number().nullable(),
  repository: z.string().nullable(),
  interfaces: z.record(z.string(), z.object({ ip: z.string(), mac: z.string() })),
  since: z.string(),
  restarts: z.number(),
  secrets: z.enum(["none", "held", "forgotten"]),
});
const Status = z
  .object({
    appliances: z.array(
      z.object({
        file: z.string(),
        name: z.string(),
        instance: z.string(),
        state: z.string(),
        components: z.array(ComponentStatus),
      }),
    ),
  })
  .openapi("Status");
const Plan = z.record(z.string(), z.any()).openapi("Plan");

/** Which HTTP status an error code maps to. */
function statusOf(code: string): 400 | 401 | 404 | 409 | 500 {
  if (code === "UNAUTHORIZED") return 401;
  if (code === "NOT_FOUND" || code === "NOT_RUNNING") return 404;
  if (code === "NO_CAPACITY" || code === "BUSY" || code === "POOL_IN_USE" || code === "POOL_EXHAUSTED")
    return 409;
  if (code === "EXEC_FAILED" || code === "INTERNAL") return 500;
  return 400;
}

export function errorBody(error: unknown): {
  status: 400 | 401 | 404 | 409 | 500;
  body: z.infer<typeof ErrorBody>;
} {
  if (isCollectiveError(error)) {
    return {
      status: statusOf(error.code),
      body: {
        error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) },
      },
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { error: { code: "INTERNAL", message: `internal error: ${message}` } } };
}

/**
 * The manager's status with what the host agent sees now: a component recorded as running whose machine
 * has exited or is being restarted after a crash shows that state (and since when), and every machine's
 * restart count is the agent's. Without this, a crash-looping appliance showed "running", restarts 0.
 */
async function liveStatus(options: ApiOptions, file: string | undefined) {
  const status = options.manager.status(file, (id) => options.operations.secrets.has(id));
  await Promise.all(
    status.appliances.flatMap((appliance) =>
      appliance.components
        .filter((component) => component.kind !== "van" && component.state === "running")
        .map(async (component) => {
          const machine = await options.agent
            .inspectMachine(machineId(appliance.instance, component.path))
            .catch(() => undefined);
          if (machine === undefined) return;
          component.restarts = machine.restarts;
          if (machine.status !== "running") {
            component.state = machine.status;
            component.since = machine.since;
          }
        }),
    ),
  );
  return status;
}

export interface ApiOptions {
  readonly manager: Manager;
  readonly operations: Operations;
  readonly agent: HostAgent;
  /** The manager's database and the state dir's paths (attic, snapshots, instances). */
  readonly db: Db;
  readonly paths: StatePaths;
  readonly token: string;
  readonly version: string;
  /** The daemon's build (see buildId in daemon.ts). */
  readonly build: string;
  /** Asks the daemon to drain and stop (POST /v1/daemon/stop). */
  readonly requestShutdown: () => void;
  /** Publishers' withdrawals, which count as blacklisted. */
  readonly withdrawn?: WithdrawnVersions;
  /** Automatic updates (absent: the routes are not served). */
  readonly autoupdater?: AutoUpdater;
}

export function createApi(options: ApiOptions): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue?.path.join(".") || "request";
        return c.json(
          { error: { code: "BAD_REQUEST", message: `${where}: ${issue?.message ?? "invalid"}` } },
          400,
        );
      }
      return undefined;
    },
  });

  app.use("/v1/*", async (c, next) => {
    const header = c.req.header("authorization");
    const presented = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
    if (!tokenMatches(options.token, presented)) {
      throw new CollectiveError("UNAUTHORIZED", "the API token is missing or wrong", {
        hint: "cui reads it from the state directory's api.token; run cui as the daemon's user",
      });
    }
    await next();
  });

  app.onError((error, c: Context) => {
    const { status, body } = errorBody(error);
    return c.json(body, status);
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/health",
      summary: "Whether the daemon answers",
      responses: {
        200: { description: "alive", content: { "application/json": { schema: Health } } },
        ...errorResponses,
      },
    }),
    (c) => c.json({ ok: true, version: options.version, build: options.build, pid: process.pid }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/status",
      summary: "Appliances, components, states and addresses",
      request: { query: z.object({ file: z.string().optional() }) },
      responses: {
        200: { description: "status", content: { "application/json": { schema: Status } } },
        ...errorResponses,
      },
    }),
    async (c) => c.json(await liveStatus(options, c.req.valid("query").file), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/plan",
      summary: "What a start would do, with allocations filled in, changing nothing",
      request: { query: FileQuery },
      responses: {
        200: { description: "the plan", content: { "application/json": { schema: Plan } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { file, object } = c.req.valid("query");
      const plan = await options.manager.plan(file, object);
      // For a running appliance the actions are those of an update, with reasons (update-plan.ts).
      if (options.manager.status(file).appliances.some((a) => a.state === "running"))
        plan.actions = (await options.operations.updates.plan(file, undefined)).actions;
      return c.json(plan, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/pools",
      summary: "The registered network id pool and public address pool",
      responses: {
        200: { description: "pools", content: { "application/json": { schema: Pools } } },
        ...errorResponses,
      },
    }),
    (c) => c.json(options.manager.pools(), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/pools/{kind}",
      summary: "Register the network id pool (FIRST-LAST) or the public pool (CIDR)",
      request: {
        params: z.object({ kind: z.enum(["vni", "public"]) }),
        body: { content: { "application/json": { schema: z.object({ spec: z.string().min(1) }) } } },
      },
      responses: {
        200: { description: "pools", content: { "application/json": { schema: Pools } } },
        ...errorResponses,
      },
    }),
    (c) => c.json(options.manager.setPool(c.req.valid("param").kind, c.req.valid("json").spec), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/host",
      summary: "This host's capacity and what is in use",
      responses: {
        200: { description: "capacity", content: { "application/json": { schema: Capacity } } },
        ...errorResponses,
      },
    }),
    (c) => c.json(options.manager.capacity(), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/host",
      summary: "Change this host's capacity",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.object({
                memoryMiB: z.number().int().positive().optional(),
                maxMachines: z.number().int().positive().optional(),
              }),
            },
          },
        },
      },
      responses: {
        200: { description: "capacity", content: { "application/json": { schema: Capacity } } },
        ...errorResponses,
      },
    }),
    (c) => c.json(options.manager.setCapacity(c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/daemon/stop",
      summary: "Drain and stop the daemon; appliances keep running",
      responses: {
        202: {
          description: "stopping",
          content: { "application/json": { schema: z.object({ stopping: z.boolean() }) } },
        },
        ...errorResponses,
      },
    }),
    (c) => {
      setImmediate(options.requestShutdown);
      return c.json({ stopping: true }, 202);
    },
  );

  /**
   * Long operations answer with newline-delimited JSON: {"progress": {...}} lines as components move,
   * then one {"result": ...} or {"error": ...} line. The CLI shows the progress as it comes.
   */
  const streamed = (c: Context, run: (progress: (e: ProgressEvent) => void) => Promise<unknown>) => {
    c.header("content-type", "application/x-ndjson");
    return stream(c, async (out) => {
      const pending: Promise<unknown>[] = [];
      const progress = (event: ProgressEvent) => {
        pending.push(out.write(`${JSON.stringify({ progress: event })}\n`));
      };
      try {
        const result = await run(progress);
        await Promise.all(pending);
        await out.write(`${JSON.stringify({ result })}\n`);
      } catch (error) {
        await Promise.all(pending);
        await out.write(`${JSON.stringify(errorBody(error).body)}\n`);
      }
    });
  };
  const ndjson = {
    200: {
      description: "progress lines, then a result or error line",
      content: { "application/x-ndjson": { schema: z.string() } },
    },
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/start",
      summary: "Start the appliance a CVL file defines (streams progress)",
      request: {
        body: { content: { "application/json": { schema: FileQuery.extend({ secrets: SecretsBody }) } } },
      },
      responses: { ...ndjson, ...errorResponses },
    }),
    (c) => {
      const { file, object, secrets } = c.req.valid("json");
      return streamed(c, (progress) =>
        options.operations.start(file, object, progress, secrets ? { secrets } : {}),
      ) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/stop",
      summary: "Stop an appliance, or one of its components, in reverse start order (streams progress)",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.object({ file: z.string().min(1), component: z.string().optional() }),
            },
          },
        },
      },
      responses: { ...ndjson, ...errorResponses },
    }),
    (c) => {
      const { file, component } = c.req.valid("json");
      return streamed(c, (progress) => options.operations.stop(file, component, progress)) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/secrets/needs",
      summary: "Which sensitive parameters a start or update of the file needs values for (names only)",
      request: { query: FileQuery },
      responses: {
        200: {
          description: "names of sensitive parameters",
          content: {
            "application/json": {
              schema: z.object({
                needs: z.array(z.object({ component: z.string(), param: z.string(), required: z.boolean() })),
              }),
            },
          },
        },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { file, object } = c.req.valid("query");
      const evaluation = await options.manager.evaluateForStart(file, object);
      return c.json({ needs: secretNeedsOf(evaluation) }, 200);
    },
  );

  registerUpdateRoutes(app, { operations: options.operations, streamed });
  if (options.autoupdater) registerAutoUpdateRoutes(app, options.autoupdater);
  registerBlacklistRoutes(app, options, { errorResponses, ndjson, streamed });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/logs",
      summary: "A component's console output (streams while follow=true)",
      request: {
        query: z.object({
          file: z.string().min(1),
          component: z.string(),
          follow: z.enum(["true", "false"]).optional(),
          tail: z
            .string()
            .regex(/^[0-9]+$/)
            .optional(),
        }),
      },
      responses: {
        200: { description: "log lines", content: { "text/plain": { schema: z.string() } } },
        ...errorResponses,
      },
    }),
    (c) => {
      const q = c.req.valid("query");
      const appliances = options.manager.status(q.file).appliances;
      const status = appliances.find((a) => a.state === "running") ?? appliances[0];
      if (!status) throw new CollectiveError("NOT_RUNNING", `nothing was started from ${q.file}`);
      const component = status.components.find((x) => x.path === q.component);
      if (!component || component.kind === "van") {
        const machines = status.components.filter((x) => x.kind !== "van").map((x) => x.path || "(root)");
        throw new CollectiveError(
          "NOT_FOUND",
          `${status.name} has no machine component '${q.component}'; it has ${machines.join(", ")}`,
        );
      }
      const abort = new AbortController();
      c.header("content-type", "text/plain; charset=utf-8");
      return stream(c, async (out) => {
        out.onAbort(() => abort.abort());
        const lines = options.agent.logs(machineId(status.instance, q.component), {
          follow: q.follow === "true",
          ...(q.tail ? { tail: Number(q.tail) } : {}),
          signal: abort.signal,
        });
        for await (const line of lines) await out.write(line.endsWith("\n") ? line : `${line}\n`);
      }) as never;
    },
  );

  registerAtticRoutes(app, options);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Collective utility API",
      version: options.version,
      description: "Served on a unix socket; every /v1 route needs Authorization: Bearer <token>.",
    },
  });
  return app;
}
