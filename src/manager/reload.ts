/**
 * How an appliance takes new parameters (CVL `reload`): "sighup" (the default: SIGHUP to its first
 * process), "restart" (it cannot reload; an update restarts it), or a command run inside it.
 */
import type { Reload } from "../agent/driver.js";
import type { EvaluatedComponent } from "../cvl/index.js";
import { display } from "../cvl/values.js";
import { CollectiveError } from "../errors.js";

export function reloadOf(component: EvaluatedComponent): Reload | "restart" {
  const values = (component.params.get("reload") ?? []).map(display);
  if (values.length > 1) {
    throw new CollectiveError(
      "BAD_VALUE",
      `${component.path || component.name}.reload has ${values.length} values; it takes one: "sighup", "restart" or a command`,
    );
  }
  const text = values[0]?.trim() ?? "sighup";
  if (text === "" || text === "sighup") return { kind: "signal" };
  if (text === "restart") return "restart";
  return { kind: "exec", command: ["/bin/sh", "-c", text] };
}

/** Seconds a component may take to become ready after a start or update (CVL `readytimeout`). */
export function readyTimeoutMs(component: EvaluatedComponent, fallbackMs: number): number {
  const text = (component.params.get("readytimeout") ?? []).map(display)[0];
  if (text === undefined) return fallbackMs;
  if (!/^[1-9][0-9]{0,5}$/.test(text)) {
    throw new CollectiveError(
      "BAD_VALUE",
      `${component.path || component.name}.readytimeout is "${text}"; it must be a whole number of seconds, e.g. "120"`,
    );
  }
  return Number(text) * 1000;
}
