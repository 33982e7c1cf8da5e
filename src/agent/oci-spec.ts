/**
 * The OCI runtime spec (config.json) the agent writes for runc: runc's own default spec (mounts, masked
 * and read-only paths, namespaces) plus Collective's choices: only the declared capabilities, no new
 * privileges, a memory limit, the instance's overlay as root, its parameter files and data disks bound in.
 */
import type { MachineSpec } from "./driver.js";
import { type InstanceLayout, inContainer } from "./instance-layout.js";
import type { ProcessUser } from "./process-user.js";

export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

export interface OciSpecInput {
  readonly spec: MachineSpec;
  readonly layout: InstanceLayout;
  readonly user: ProcessUser;
  readonly capabilities: readonly string[];
  /** The cgroup the container gets, e.g. /collective/<id>. */
  readonly cgroupsPath: string;
  /** Host directory mounted at each data disk's mount point, by device. */
  readonly diskSources: ReadonlyMap<string, string>;
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** As in `runc spec`: the kernel's view a container needs, with the dangerous corners hidden. */
const kernelMounts: readonly OciMount[] = [
  { destination: "/proc", type: "proc", source: "proc", options: [] },
  {
    destination: "/dev",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "shm",
    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
  },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  {
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    source: "cgroup",
    options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
  },
];

const maskedPaths = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
];

const readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

function collectiveMounts(input: OciSpecInput): OciMount[] {
  const { layout, spec } = input;
  const mounts: OciMount[] = [
    {
      destination: inContainer.base,
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "noexec", "mode=755", "size=1m"],
    },
    {
      destination: inContainer.params,
      type: "bind",
      source: layout.params,
      options: ["bind", "ro", "nosuid", "nodev", "noexec"],
    },
    {
      destination: inContainer.secrets,
      type: "bind",
      source: layout.secrets,
      options: ["bind", "ro", "nosuid", "nodev", "noexec"],
    },
    {
      destination: inContainer.status,
      type: "bind",
      source: layout.status,
      options: ["bind", "nosuid", "nodev", "noexec"],
    },
  ];
  for (const disk of spec.dataDisks ?? []) {
    const source = input.diskSources.get(disk.device);
    if (source === undefined) throw new Error(`data disk ${disk.device} has no host mount`);
    mounts.push({ destination: disk.mount, type: "bind", source, options: ["bind", "nosuid", "nodev"] });
  }
  return mounts;
}

function environment(spec: MachineSpec): string[] {
  const env: Record<string, string> = { PATH: defaultPath, HOSTNAME: spec.hostname ?? spec.id };
  Object.assign(env, spec.process.env ?? {});
  if (spec.readiness?.kind === "notify") env.NOTIFY_SOCKET = inContainer.notifySocket;
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}

export function buildOciSpec(input: OciSpecInput): Record<string, unknown> {
  const { spec, layout, user } = input;
  const capabilities = [...input.capabilities];
  const namespaces: { type: string; path?: string }[] = [
    { type: "pid" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
    // Without a namespace from the network layer the machine gets a private one with only loopback.
    spec.netnsPath === undefined ? { type: "network" } : { type: "network", path: spec.netnsPath },
  ];
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: "rwm" }],
    memory: { limit: spec.memoryMiB * 1024 * 1024 },
    pids: { limit: 4096 },
  };
  if (spec.cpus !== undefined) resources.cpu = { quota: Math.round(spec.cpus * 100_000), period: 100_000 };
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args: [...spec.process.args],
      env: environment(spec),
      cwd: spec.process.workingDir ?? "/",
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      // No rlimits: the container inherits the agent's (raising them would need CAP_SYS_RESOURCE).
      noNewPrivileges: true,
    },
    root: { path: layout.rootfs, readonly: false },
    hostname: spec.hostname ?? spec.id,
    mounts: [...kernelMounts, ...collectiveMounts(input)],
    linux: {
      cgroupsPath: input.cgroupsPath,
      sysctl: { ...spec.sysctls },
      resources,
      namespaces,
      maskedPaths,
      readonlyPaths,
    },
  };
}
