/**
 * Validation of every name that reaches a system command or a path: instance ids, interface names,
 * bridge names. A name that fails is a CollectiveError naming the field and the rule, never passed on.
 */
import { CollectiveError } from "../errors.js";

/** Linux interface names: at most 15 bytes, no '/', whitespace or ':'. We allow a safe subset. */
const linkName = /^[a-z][a-z0-9-]{0,14}$/;
/** Ids of instances, containers, namespaces: what runc and our state directories use. */
const id = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function checkLinkName(name: string, field = "interface name"): string {
  if (!linkName.test(name)) {
    throw new CollectiveError(
      "BAD_NAME",
      `${field} "${name}" is not valid: use 1-15 characters a-z, 0-9 and '-', starting with a letter`,
    );
  }
  return name;
}

export function checkId(value: string, field = "id"): string {
  if (!id.test(value) || value.includes("..")) {
    throw new CollectiveError(
      "BAD_NAME",
      `${field} "${value}" is not valid: use 1-63 characters a-z, 0-9, '_', '.', '-', starting with a letter or digit`,
    );
  }
  return value;
}
