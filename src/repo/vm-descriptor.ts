/**
 * A VMAppliance's `vm`: a VMware .vmx file (as in the paper: memsize, numvcpus, disks by device name such
 * as ide0:0.fileName) or Collective's own JSON descriptor (docs/repositories.md):
 *   { "format": "collective-vm", "memoryMiB": 512, "cpus": 1,
 *     "disks": [ { "device": "virtio0", "file": "root.qcow2" } ] }
 */
import { CollectiveError } from "../errors.js";
import { readRegularFile } from "../fs-safety/regular-file.js";
import type { MachineSpec } from "./format.js";

export interface VmDescriptor {
  readonly machine: MachineSpec;
  /** Disks by device name, file names as written (relative to the descriptor). */
  readonly disks: ReadonlyArray<{ readonly device: string; readonly file: string }>;
}

const DEVICE = /^(ide|scsi|sata|nvme|virtio)[0-9]+(:[0-9]+)?$/;

function bad(path: string, what: string): CollectiveError {
  return new CollectiveError("BAD_VM_DESCRIPTOR", `${path}: ${what}`, {
    hint: "see docs/repositories.md for the .vmx keys and the JSON descriptor that cui understands",
  });
}

export function parseVmx(text: string, path: string): VmDescriptor {
  const values = new Map<string, string>();
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(".encoding")) continue;
    const match = /^([A-Za-z0-9_:.-]+)\s*=\s*"(.*)"$/.exec(trimmed);
    if (!match) throw bad(path, `line ${index + 1} is not of the form key = "value"`);
    values.set(match[1]!.toLowerCase(), match[2]!);
  }
  const machine: MachineSpec = {};
  const memory = values.get("memsize");
  if (memory !== undefined) {
    if (!/^[0-9]+$/.test(memory)) throw bad(path, `memsize "${memory}" is not a number of MiB`);
    machine.memoryMiB = Number(memory);
  }
  const cpus = values.get("numvcpus");
  if (cpus !== undefined) {
    if (!/^[0-9]+$/.test(cpus)) throw bad(path, `numvcpus "${cpus}" is not a number`);
    machine.cpus = Number(cpus);
  }
  const disks: Array<{ device: string; file: string }> = [];
  for (const [key, value] of values) {
    const match = /^([a-z]+[0-9]+:[0-9]+)\.filename$/.exec(key);
    if (!match) continue;
    const device = match[1]!;
    if (values.get(`${device}.present`)?.toLowerCase() === "false") continue;
    const type = values.get(`${device}.devicetype`)?.toLowerCase() ?? "disk";
    if (type.includes("cdrom")) continue;
    disks.push({ device, file: value });
  }
  return { machine, disks: disks.sort((a, b) => a.device.localeCompare(b.device)) };
}

export function parseJsonDescriptor(text: string, path: string): VmDescriptor {
  let data: { format?: unknown; memoryMiB?: unknown; cpus?: unknown; disks?: unknown };
  try {
    data = JSON.parse(text);
  } catch {
    throw bad(path, "is not valid JSON");
  }
  if (data.format !== "collective-vm") throw bad(path, 'has no "format": "collective-vm"');
  const machine: MachineSpec = {};
  if (data.memoryMiB !== undefined) {
    if (!Number.isInteger(data.memoryMiB) || (data.memoryMiB as number) <= 0)
      throw bad(path, "memoryMiB must be a positive integer");
    machine.memoryMiB = data.memoryMiB as number;
  }
  if (data.cpus !== undefined) {
    if (!Number.isInteger(data.cpus) || (data.cpus as number) <= 0)
      throw bad(path, "cpus must be a positive integer");
    machine.cpus = data.cpus as number;
  }
  if (!Array.isArray(data.disks)) throw bad(path, "disks must be a list");
  const disks = data.disks.map((d: { device?: unknown; file?: unknown }, i: number) => {
    if (typeof d?.device !== "string" || typeof d.file !== "string")
      throw bad(path, `disks[${i}] needs "device" and "file" strings`);
    return { device: d.device, file: d.file };
  });
  return { machine, disks };
}

export async function readVmDescriptor(path: string): Promise<VmDescriptor> {
  // Not a plain readFile: a FIFO (or a symlink to one) would hang the publish, a device never end.
  const text = (
    await readRegularFile(
      path,
      (kind) =>
        new CollectiveError(
          "BAD_VM_DESCRIPTOR",
          `${path} (the VMAppliance's vm) is ${kind}, not a regular file`,
          { hint: "point the VMAppliance's vm at a .vmx file or a JSON VM descriptor (a regular file)" },
        ),
    )
  ).toString("utf8");
  // An empty file parsed as a .vmx of no settings: a VM of no disks, published as if it were one.
  if (text.trim() === "")
    throw bad(path, "it is empty; a .vmx file or a JSON VM descriptor names the VM's disks, memory and cpus");
  const descriptor = text.trimStart().startsWith("{")
    ? parseJsonDescriptor(text, path)
    : parseVmx(text, path);
  const seen = new Set<string>();
  for (const disk of descriptor.disks) {
    if (!DEVICE.test(disk.device))
      throw bad(path, `"${disk.device}" is not a device name (ide0:0, scsi0:1, sata0:0, nvme0:0, virtio0)`);
    if (seen.has(disk.device)) throw bad(path, `device ${disk.device} is listed twice`);
    seen.add(disk.device);
  }
  return descriptor;
}
