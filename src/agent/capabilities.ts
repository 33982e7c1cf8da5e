/**
 * Linux capabilities for container appliances. Container root is host root limited by its capability
 * sets (there is no user namespace yet), so the baseline is small: enough for a service that binds a low
 * port, drops to its own user and signals its children. Anything else (NET_ADMIN for a firewall, NET_RAW
 * for ping, CHOWN for a service that fixes ownership at start) the appliance must declare.
 */
import { CollectiveError } from "../errors.js";

/** What every container gets. docs/appliances.md lists these; keep the two in step. */
export const baselineCapabilities: readonly string[] = [
  "CAP_NET_BIND_SERVICE",
  "CAP_KILL",
  "CAP_SETUID",
  "CAP_SETGID",
];

/** Capabilities the kernel knows (capability.h, Linux 6.x). */
const knownCapabilities = new Set([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
]);

/** "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; unknown names are refused. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!knownCapabilities.has(full)) {
    throw new CollectiveError("BAD_CAPABILITY", `unknown capability "${name}"`, {
      hint: "Use a Linux capability name such as NET_ADMIN or CAP_NET_RAW (see capabilities(7)).",
    });
  }
  return full;
}

/** The baseline plus the declared ones, normalized, sorted, without duplicates. */
export function effectiveCapabilities(declared: readonly string[] = []): string[] {
  const all = new Set(baselineCapabilities);
  for (const name of declared) all.add(normalizeCapability(name));
  return [...all].sort();
}
