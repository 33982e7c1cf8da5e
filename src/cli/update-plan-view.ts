/** The update plan as a user reads it: one line per action with its reason, changed parameters below. */
import { decodeMap } from "../cvl/values.js";
import type { UpdateAction } from "../manager/update-plan.js";

const verbs: Record<UpdateAction["action"], string> = {
  start: "start",
  stop: "stop",
  update: "update",
  reconfigure: "reconfigure",
  attic: "to attic",
  none: "untouched",
};

/** A value as CVL would write it: a map string as { key => "value" }, anything else quoted. */
function literal(text: string): string {
  if (/^[^=&]+=[^&]*(&[^=&]+=[^&]*)*$/.test(text) && /[=]/.test(text) && !text.includes(" ")) {
    try {
      const pairs = decodeMap(text).map(([k, v]) => `${k} => ${v.map((x) => JSON.stringify(x)).join(", ")}`);
      return `{ ${pairs.join(", ")} }`;
    } catch {
      // not a map after all
    }
  }
  return JSON.stringify(text);
}

function values(v: readonly string[] | null): string {
  return v === null ? "(unset)" : v.map(literal).join(", ");
}

export function renderUpdatePlan(actions: readonly UpdateAction[], appliance: string): string {
  const lines: string[] = [];
  const width = Math.max(8, ...actions.map((a) => (a.path || appliance).length));
  for (const a of actions) {
    const versions =
      a.action === "start" && a.to !== null
        ? ` [v${a.to}]`
        : a.action === "attic" && a.from !== null
          ? ` [v${a.from}]`
          : a.from !== a.to && (a.from !== null || a.to !== null)
            ? ` [${a.from === null ? "local" : `v${a.from}`} -> ${a.to === null ? "local" : `v${a.to}`}]`
            : "";
    lines.push(
      `  ${verbs[a.action].padEnd(11)} ${(a.path || appliance).padEnd(width)}${versions}  ${a.reason}`,
    );
    for (const [name, change] of Object.entries(a.params))
      lines.push(
        `  ${"".padEnd(11)} ${"".padEnd(width)}    ${name}: ${values(change.old)} -> ${values(change.new)}`,
      );
  }
  const count = (kind: UpdateAction["action"]) => actions.filter((a) => a.action === kind).length;
  const restarts = actions.filter((a) => a.restarts && a.action === "update").length;
  lines.push(
    "",
    `${count("start")} to start, ${count("update")} to update (${restarts} restart${restarts === 1 ? "" : "s"}), ${count("reconfigure")} to reconfigure without a restart, ${count("attic") + count("stop")} to remove, ${count("none")} untouched`,
  );
  return `${lines.join("\n")}\n`;
}
