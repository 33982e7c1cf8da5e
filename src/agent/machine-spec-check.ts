/**
 * Validation of a MachineSpec before anything is created: every value that reaches a command line, a
 * path or the OCI spec is checked here, so that the rest of the driver can trust it.
 */
import { CollectiveError } from "../errors.js";
import { checkId } from "../sys/names.js";
import { normalizeCapability } from "./capabilities.js";
import { checkContainerPath, checkHostPath, checkMountPoint } from "./container-path.js";
import type { MachineSpec, Readiness } from "./driver.js";

const paramName = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;
const deviceName = /^[a-z][a-z0-9_-]{0,31}$/;
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const restartPolicies = new Set(["no", "on-failure", "always"]);

function bad(message: string): never {
  throw new CollectiveError("BAD_MACHINE_SPEC", message);
}

function checkReadiness(id: string, readiness: Readiness): void {
  switch (readiness.kind) {
    case "none":
    case "notify":
      return;
    case "tcp":
    case "http":
      if (!Number.isInteger(readiness.port) || readiness.port < 1 || readiness.port > 65535) {
        bad(`${id}: health check port ${readiness.port} is not between 1 and 65535`);
      }
      if (readiness.host !== undefined && !/^[0-9a-fA-F.:]{2,45}$/.test(readiness.host)) {
        bad(`${id}: health check host ${JSON.stringify(readiness.host)} must be an IP address`);
      }
      if (
        readiness.kind === "http" &&
        readiness.path !== undefined &&
        !/^\/[\x21-\x7e]*$/.test(readiness.path)
      ) {
        bad(
          `${id}: health check path ${JSON.stringify(readiness.path)} must start with "/" and be printable ASCII`,
        );
      }
      return;
    case "exec":
      if (readiness.command.length === 0) bad(`${id}: the exec health check has no command`);
      if (readiness.command.some((arg) => arg.includes("\0")))
        bad(`${id}: the exec health check has a NUL byte`);
      return;
    case "file":
      if (readiness.path !== undefined) checkContainerPath(readiness.path, `${id}: ready file`);
      return;
  }
}

/** Throws a CollectiveError naming the first invalid value. */
export function checkMachineSpec(spec: MachineSpec): void {
  const id = checkId(spec.id, "machine id");
  checkHostPath(spec.programPath, `${id}: program path`);
  checkHostPath(spec.stateDir, `${id}: state dir`);
  if (spec.netnsPath !== undefined) checkHostPath(spec.netnsPath, `${id}: network namespace`);
  if (spec.process.args.length === 0)
    bad(`${id}: no command to run (neither a command nor an image entrypoint)`);
  if (spec.process.args.some((arg) => arg.includes("\0"))) bad(`${id}: the command has a NUL byte`);
  for (const [name, value] of Object.entries(spec.process.env ?? {})) {
    if (!envName.test(name) || value.includes("\0"))
      bad(`${id}: environment variable ${JSON.stringify(name)}`);
  }
  if (spec.process.workingDir !== undefined)
    checkContainerPath(spec.process.workingDir, `${id}: working dir`);
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 6)
    bad(`${id}: memory ${spec.memoryMiB} MiB (at least 6)`);
  if (spec.cpus !== undefined && !(spec.cpus > 0 && spec.cpus <= 1024)) bad(`${id}: cpus ${spec.cpus}`);
  for (const name of spec.capabilities ?? []) normalizeCapability(name);
  const devices = new Set<string>();
  const mounts = new Set<string>();
  for (const disk of spec.dataDisks ?? []) {
    if (!deviceName.test(disk.device))
      bad(`${id}: data disk device ${JSON.stringify(disk.device)} (use a-z, 0-9)`);
    if (devices.has(disk.device)) bad(`${id}: data disk device ${disk.device} is declared twice`);
    devices.add(disk.device);
    if (!Number.isInteger(disk.sizeMiB) || disk.sizeMiB < 8)
      bad(`${id}: data disk ${disk.device} size (at least 8 MiB)`);
    checkMountPoint(disk.mount, `${id}: data disk ${disk.device} mount point`);
    for (const other of mounts) {
      if (other.startsWith(`${disk.mount}/`) || disk.mount.startsWith(`${other}/`) || other === disk.mount) {
        bad(`${id}: data disk mount points ${other} and ${disk.mount} overlap`);
      }
    }
    mounts.add(disk.mount);
    checkHostPath(disk.imagePath, `${id}: data disk ${disk.device} image`);
  }
  for (const name of Object.keys(spec.params ?? {})) {
    if (!paramName.test(name)) bad(`${id}: parameter name ${JSON.stringify(name)}`);
  }
  for (const name of Object.keys(spec.secrets ?? {})) {
    if (!paramName.test(name)) bad(`${id}: sensitive parameter name ${JSON.stringify(name)}`);
  }
  if (spec.stopTimeoutSec !== undefined && !(spec.stopTimeoutSec >= 0 && spec.stopTimeoutSec <= 86_400)) {
    bad(`${id}: stop timeout ${spec.stopTimeoutSec} s`);
  }
  if (spec.restart !== undefined && !restartPolicies.has(spec.restart))
    bad(`${id}: restart policy ${spec.restart}`);
  if (spec.hostname !== undefined && !/^[a-z0-9]([a-z0-9.-]{0,62})$/i.test(spec.hostname)) {
    bad(`${id}: hostname ${JSON.stringify(spec.hostname)}`);
  }
  if (spec.readiness !== undefined) checkReadiness(id, spec.readiness);
  for (const [name, value] of Object.entries(spec.sysctls ?? {})) {
    // Only the network namespace's own parameters: the others would change the host's kernel.
    if (!/^net\.[a-z0-9_.-]{1,120}$/.test(name) || name.includes(".."))
      bad(`${id}: sysctl ${JSON.stringify(name)} (net.* only)`);
    if (!/^[\x20-\x7e]{0,256}$/.test(value)) bad(`${id}: sysctl ${name} value ${JSON.stringify(value)}`);
  }
}
