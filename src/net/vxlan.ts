/**
 * VXLAN between hosts: one device per VAN on each host that runs a component of it, a port of the VAN's
 * bridge, with the VAN's network id as VXLAN id. Broadcast and unknown traffic go to every other host of
 * the VAN by head-end replication (one all-zero FDB entry per remote host); the device learns where each
 * remote MAC lives from the traffic itself. UDP port 4789 (IANA).
 */
import { CollectiveError } from "../errors.js";
import { deleteLinkIfPresent } from "./bridges.js";
import type { HostCommands } from "./host-commands.js";
import { formatIpv4, parseIpv4 } from "./ipv4.js";
import { findHostLink } from "./link-state.js";

export const VXLAN_PORT = 4789;
const FLOOD_MAC = "00:00:00:00:00:00";

export interface VxlanSpec {
  readonly vni: number;
  readonly name: string;
  readonly bridge: string;
  /** This host's underlay address (the source of tunnel packets). */
  readonly localIp: string;
  /** The other hosts' underlay addresses. */
  readonly remotes: readonly string[];
  readonly mtu: number;
}

interface FdbEntry {
  readonly mac: string;
  readonly dst?: string;
}

function canonical(address: string, field: string): string {
  return formatIpv4(parseIpv4(address, field));
}

export async function ensureVxlan(commands: HostCommands, spec: VxlanSpec): Promise<void> {
  const local = canonical(spec.localIp, "VXLAN local address");
  const remotes = [...new Set(spec.remotes.map((remote) => canonical(remote, "VXLAN remote address")))];
  if (remotes.includes(local)) {
    throw new CollectiveError("BAD_ADDRESS", `VXLAN remote ${local} is this host's own local address`);
  }
  if (!(await findHostLink(commands, spec.bridge))) {
    throw new CollectiveError(
      "VAN_NOT_READY",
      `bridge ${spec.bridge} of VAN ${spec.vni} does not exist: ensure the VAN first`,
    );
  }
  const existing = await findHostLink(commands, spec.name);
  const data = existing?.linkinfo?.info_data;
  const matches =
    existing?.linkinfo?.info_kind === "vxlan" &&
    data?.id === spec.vni &&
    data.local === local &&
    data.port === VXLAN_PORT;
  if (existing && !matches) await deleteLinkIfPresent(commands, spec.name);
  if (!matches) {
    await commands.ip(
      ["link", "add", spec.name, "mtu", String(spec.mtu), "type", "vxlan", "id", String(spec.vni)].concat([
        "local",
        local,
        "dstport",
        String(VXLAN_PORT),
      ]),
    );
  }
  await commands.ip(["link", "set", "dev", spec.name, "master", spec.bridge, "addrgenmode", "none", "up"]);
  await reconcileRemotes(commands, spec.name, remotes);
}

async function reconcileRemotes(
  commands: HostCommands,
  device: string,
  remotes: readonly string[],
): Promise<void> {
  const current = await currentRemotes(commands, device);
  for (const remote of remotes) {
    if (!current.includes(remote))
      await commands.bridge(["fdb", "append", FLOOD_MAC, "dev", device, "dst", remote]);
  }
  for (const remote of current) {
    if (!remotes.includes(remote))
      await commands.bridge(["fdb", "delete", FLOOD_MAC, "dev", device, "dst", remote]);
  }
}

/** The remote hosts a VXLAN device floods to. */
export async function currentRemotes(commands: HostCommands, device: string): Promise<string[]> {
  const entries = await commands.bridgeJson<FdbEntry[]>(["fdb", "show", "dev", device]);
  return entries
    .filter((entry) => entry.mac === FLOOD_MAC && entry.dst !== undefined)
    .map((entry) => entry.dst!);
}
