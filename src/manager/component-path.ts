/**
 * A component chosen by its dotted path on the command line (`cui stop FILE www`, `cui update FILE g`):
 * what it selects, and the error when it names nothing.
 */
import { CollectiveError } from "../errors.js";

/** Whether `path` is the selected component or inside it; no selection (undefined or "") is everything. */
export function isInside(selected: string | undefined, path: string): boolean {
  return selected === undefined || selected === "" || path === selected || path.startsWith(`${selected}.`);
}

/** Throws NOT_FOUND, listing the component paths there are, when `selected` names none of `known`. */
export function assertComponent(
  appliance: string,
  selected: string | undefined,
  known: ReadonlyArray<{ readonly path: string }>,
): void {
  if (selected === undefined || selected === "" || known.some((c) => c.path === selected)) return;
  const paths = [...new Set(known.map((c) => c.path).filter((p) => p !== ""))];
  throw new CollectiveError(
    "NOT_FOUND",
    `${appliance} has no component '${selected}'; its components are ${paths.join(", ")}`,
    { hint: "give a component path as 'cui status' shows it, e.g. www or mail.db" },
  );
}
