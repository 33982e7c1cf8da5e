/**
 * Memory limits need the memory cgroup controller. runc handles v1, hybrid and v2; say which this is, since
 * it decides where limits show up when debugging.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Check, result } from "./check.js";

const name = "cgroups";

interface CgroupMount {
  readonly path: string;
  readonly type: "cgroup" | "cgroup2";
  readonly options: readonly string[];
}

export const cgroupsCheck: Check = {
  name,
  run: async (ctx) => {
    const mounts = parseCgroupMounts(await readFile(ctx.files.procMounts, "utf8").catch(() => ""));
    const v1 = mounts.filter((m) => m.type === "cgroup");
    const v2 = mounts.find((m) => m.type === "cgroup2");
    if (v1.length === 0 && v2 === undefined) {
      return result(
        name,
        true,
        "missing",
        `no cgroup filesystem in ${ctx.files.procMounts}`,
        "mount -t cgroup2 none /sys/fs/cgroup (systemd does this at boot)",
      );
    }
    const mode = v1.length === 0 ? "v2" : v2 === undefined ? "v1" : "hybrid";
    const where =
      mode === "v2"
        ? `v2 at ${v2!.path}`
        : mode === "v1"
          ? "v1"
          : `hybrid (v1 controllers, v2 at ${v2!.path})`;
    const memory = mode === "v2" ? await v2HasMemory(v2!.path) : v1.some((m) => m.options.includes("memory"));
    if (!memory) {
      return result(
        name,
        true,
        "broken",
        `${where}; no memory controller`,
        "boot the kernel with cgroup_enable=memory (and without cgroup_disable=memory)",
      );
    }
    return result(name, true, "ok", `${where}; memory controller available`);
  },
};

export function parseCgroupMounts(text: string): CgroupMount[] {
  return text.split("\n").flatMap((line) => {
    const [, path, type, options] = line.split(" ");
    if (path === undefined || (type !== "cgroup" && type !== "cgroup2")) return [];
    return [{ path, type, options: (options ?? "").split(",") }];
  });
}

async function v2HasMemory(mountPath: string): Promise<boolean> {
  const controllers = await readFile(join(mountPath, "cgroup.controllers"), "utf8").catch(() => "");
  return controllers.split(/\s+/).includes("memory");
}
