/**
 * Named network namespaces (/run/netns/NAME) for appliances. The agent creates the namespace first, the
 * plumber configures its interfaces, and the container driver hands /run/netns/NAME to runc, so every
 * interface is ready before the appliance's first process starts, and the namespace outlives an agent
 * restart.
 */
import { exec, execJson } from "../sys/exec.js";
import { checkId } from "../sys/names.js";

export function namespacePath(name: string): string {
  return `/run/netns/${checkId(name, "namespace name")}`;
}

export async function listNamespaces(): Promise<string[]> {
  const entries = await execJson<{ name: string }[]>("ip", ["-j", "netns", "list"]);
  return entries.map((entry) => entry.name);
}

/** Creates the namespace unless it exists, and brings its loopback up. */
export async function ensureNamespace(name: string): Promise<void> {
  checkId(name, "namespace name");
  if (!(await listNamespaces()).includes(name)) {
    try {
      await exec("ip", ["netns", "add", name]);
    } catch (error) {
      // Someone else (a retried call) created it between our look and our add: that is what we wanted.
      if (!(await listNamespaces()).includes(name)) throw error;
    }
  }
  await exec("ip", ["-n", name, "link", "set", "lo", "up"]);
}

export async function removeNamespace(name: string): Promise<void> {
  checkId(name, "namespace name");
  if ((await listNamespaces()).includes(name)) await exec("ip", ["netns", "delete", name]);
}
