import type { Evaluation } from "../cvl/index.js";
import { resolveParams } from "./resolve-params.js";

/** The default route each VAN gives its members (its defaultroute, with allocations filled in). */
export function defaultRoutesOf(
  evaluation: Evaluation,
  values: ReadonlyMap<string, string>,
): Map<string, string> {
  const routes = new Map<string, string>();
  for (const c of evaluation.components) {
    if (c.kind !== "van" && c.path !== "") continue;
    const route = resolveParams(c, values).params.defaultroute?.[0];
    if (route && !route.includes("${")) routes.set(c.path, route);
  }
  return routes;
}
