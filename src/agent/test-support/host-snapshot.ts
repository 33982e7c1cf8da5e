/**
 * Test support: what the host looks like to the leave-no-trace assertion (runc containers under a root,
 * loop devices, mounts, network namespaces), and a forceful cleanup of everything a test run created
 * under its prefix, for afterAll, even after failures.
 */
import { readdir, readFile, rmdir } from "node:fs/promises";
import { exec } from "../../sys/exec.js";
import { mountsUnder } from "../host-mounts.js";
import { Runc } from "../runc.js";

export interface HostSnapshot {
  readonly runcContainers: string[];
  readonly loopDevices: string[];
  readonly mounts: string[];
  readonly netns: string[];
}

export async function snapshotHost(runcRoot: string): Promise<HostSnapshot> {
  const runcContainers = (await new Runc(runcRoot).list().catch(() => [])).map((state) => state.id).sort();
  const loops = await exec("losetup", ["-a"]);
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const netns = await exec("ip", ["netns", "list"]);
  return {
    runcContainers,
    loopDevices: loops.stdout.split("\n").filter(Boolean).sort(),
    // Mount point and source; ids and options may legitimately change.
    mounts: mountinfo
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(" ")[4] ?? "")
      .sort(),
    netns: netns.stdout.split("\n").filter(Boolean).sort(),
  };
}

/** Deletes every container under `runcRoot`, unmounts everything under `dir`, frees loops on its images. */
export async function forceCleanup(runcRoot: string, dir: string, cgroupParent: string): Promise<void> {
  const runc = new Runc(runcRoot);
  for (const state of await runc.list().catch(() => [])) await runc.delete(state.id).catch(() => undefined);
  for (const point of await mountsUnder(dir)) await exec("umount", ["-l", point]).catch(() => undefined);
  const loops = await exec("losetup", ["-a", "-O", "NAME,BACK-FILE", "-n"]).catch(() => ({ stdout: "" }));
  for (const line of loops.stdout.split("\n")) {
    const [device, file] = line.trim().split(/\s+/, 2);
    if (device && file?.startsWith(dir)) await exec("losetup", ["-d", device]).catch(() => undefined);
  }
  await removeCgroupDirs(cgroupParent);
}

/** runc removes each container's cgroup but not the shared parent; the test run removes its own. */
export async function removeCgroupDirs(cgroupParent: string): Promise<void> {
  const hierarchies = await readdir("/sys/fs/cgroup").catch(() => [] as string[]);
  const candidates = [
    `/sys/fs/cgroup/${cgroupParent}`,
    ...hierarchies.map((name) => `/sys/fs/cgroup/${name}/${cgroupParent}`),
  ];
  for (const path of candidates) await rmdir(path).catch(() => undefined);
}

export async function cgroupDirsExist(cgroupParent: string): Promise<string[]> {
  const hierarchies = await readdir("/sys/fs/cgroup").catch(() => [] as string[]);
  const found: string[] = [];
  for (const name of hierarchies) {
    const path = `/sys/fs/cgroup/${name}/${cgroupParent}`;
    if (
      await readdir(path).then(
        () => true,
        () => false,
      )
    )
      found.push(path);
  }
  return found;
}
