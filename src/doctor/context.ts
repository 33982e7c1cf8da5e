/**
 * What the checks look at: command names, kernel files and the state directory. All injectable, so tests
 * can point a check at a fake binary or file and see its failure path without breaking the machine.
 */
import { accessSync, constants, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { type NetworkFeature, probeNetworkSupport } from "../net/probe.js";
import { type ExecOptions, type ExecResult, exec } from "../sys/exec.js";

export interface DoctorCommands {
  readonly runc: string;
  readonly crun: string;
  readonly ip: string;
  readonly nft: string;
  readonly mount: string;
  readonly umount: string;
  readonly losetup: string;
  readonly mkfsExt4: string;
  readonly qemuSystem: string;
  readonly qemuImg: string;
}

export interface DoctorFiles {
  readonly procFilesystems: string;
  readonly procMounts: string;
  /** The directory holding the namespace links (net, pid, mnt). */
  readonly namespaces: string;
  readonly loopControl: string;
  readonly kvm: string;
  readonly cpuinfo: string;
}

export interface DoctorOptions {
  /** The state directory to check (resolved by the caller: --state-dir, COLLECTIVE_STATE_DIR, default). */
  readonly stateDir: string;
  readonly commands?: Partial<DoctorCommands>;
  readonly files?: Partial<DoctorFiles>;
  /** PATH used to find the commands (tests pass a directory of fakes). Default: the process's PATH. */
  readonly path?: string;
  /** Default: the process's uid. */
  readonly uid?: number;
  /** Where the overlay check makes its temp dir. Default: the state dir if writable, else the OS's. */
  readonly scratchDir?: string;
  /** The network feature probe (src/net/probe.ts; it uses the real `ip` and `nft`). */
  readonly probeNetwork?: () => Promise<NetworkFeature[]>;
  /** How long qemu must keep running under -accel kvm to count KVM as usable. */
  readonly kvmWindowMs?: number;
}

export interface DoctorContext {
  readonly stateDir: string;
  readonly commands: DoctorCommands;
  readonly files: DoctorFiles;
  readonly uid: number;
  readonly isRoot: boolean;
  readonly scratchDir: string;
  readonly probeNetwork: () => Promise<NetworkFeature[]>;
  readonly kvmWindowMs: number;
  /** exec() with the context's PATH and a 10 s default timeout: no check may hang doctor. */
  readonly run: (command: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;
}

export const defaultCommands: DoctorCommands = {
  runc: "runc",
  crun: "crun",
  ip: "ip",
  nft: "nft",
  mount: "mount",
  umount: "umount",
  losetup: "losetup",
  mkfsExt4: "mkfs.ext4",
  qemuSystem: "qemu-system-x86_64",
  qemuImg: "qemu-img",
};

export const defaultFiles: DoctorFiles = {
  procFilesystems: "/proc/filesystems",
  procMounts: "/proc/mounts",
  namespaces: "/proc/self/ns",
  loopControl: "/dev/loop-control",
  kvm: "/dev/kvm",
  cpuinfo: "/proc/cpuinfo",
};

export function doctorContext(options: DoctorOptions): DoctorContext {
  const uid = options.uid ?? process.getuid?.() ?? -1;
  const env = options.path === undefined ? undefined : { PATH: options.path };
  return {
    stateDir: options.stateDir,
    commands: { ...defaultCommands, ...options.commands },
    files: { ...defaultFiles, ...options.files },
    uid,
    isRoot: uid === 0,
    scratchDir: options.scratchDir ?? defaultScratchDir(options.stateDir),
    probeNetwork: options.probeNetwork ?? probeNetworkSupport,
    kvmWindowMs: options.kvmWindowMs ?? 1500,
    run: (command, args, execOptions = {}) =>
      exec(command, args, { timeoutMs: 10_000, ...(env ? { env } : {}), ...execOptions }),
  };
}

/** The state dir's filesystem is where overlay uppers will live, so test there when we may write to it. */
function defaultScratchDir(stateDir: string): string {
  try {
    if (statSync(stateDir).isDirectory()) {
      accessSync(stateDir, constants.W_OK);
      return stateDir;
    }
  } catch {
    // not there yet or not ours: fall through
  }
  return tmpdir();
}
