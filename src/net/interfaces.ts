/**
 * An appliance's interface: a veth pair whose host end joins the VAN's (or the public) bridge and whose
 * other end, inside the appliance's namespace, is named as in CVL (ethernet0) and carries the allocated
 * MAC, address and the VAN's default route. Attaching again with the same spec changes nothing; with a
 * different spec it converges to the new one.
 */
import { CollectiveError } from "../errors.js";
import { checkId, checkLinkName } from "../sys/names.js";
import { deleteLinkIfPresent } from "./bridges.js";
import type { HostCommands } from "./host-commands.js";
import { type HostNaming, hostVethName, type NetworkRef, sideOf } from "./host-names.js";
import { formatIpv4, parseIpv4 } from "./ipv4.js";
import { findHostLink, findLinkIn, type IpAddress, type IpLink } from "./link-state.js";
import { checkMac } from "./mac.js";

export interface InterfaceSpec {
  readonly network: NetworkRef;
  /** The appliance's named namespace (see namespaces.ts). */
  readonly netns: string;
  /** The interface's name inside the appliance, as in CVL: ethernet0, ethernet1 ... */
  readonly ifName: string;
  readonly mac: string;
  /** Dotted IPv4 address and prefix length, e.g. 10.16.0.2 and 24. */
  readonly address: string;
  readonly prefixLength: number;
  /** The VAN's defaultroute (a gateway's address), when it has one and this interface should carry it. */
  readonly defaultRoute?: string;
  /** Default: the plumber's MTU (1450, see host-network.ts). */
  readonly mtu?: number;
}

/** A spec whose defaults the plumber has filled in. */
export type ResolvedInterfaceSpec = InterfaceSpec & { readonly mtu: number };

export interface AttachedInterface {
  readonly hostEnd: string;
  readonly bridge: string;
}

export function checkInterfaceSpec(spec: ResolvedInterfaceSpec): void {
  checkId(spec.netns, "namespace name");
  checkLinkName(spec.ifName, "interface name");
  checkMac(spec.mac);
  parseIpv4(spec.address, "interface address");
  if (spec.defaultRoute !== undefined) parseIpv4(spec.defaultRoute, "default route");
  if (!Number.isInteger(spec.prefixLength) || spec.prefixLength < 8 || spec.prefixLength > 30) {
    throw new CollectiveError("BAD_ADDRESS", `prefix length ${spec.prefixLength} must be from 8 to 30`);
  }
  if (!Number.isInteger(spec.mtu) || spec.mtu < 576 || spec.mtu > 9000) {
    throw new CollectiveError("BAD_MTU", `MTU ${spec.mtu} must be from 576 to 9000`);
  }
}

/** True when the two ends are the two sides of one veth pair. */
function arePeers(hostEnd: IpLink, inside: IpLink): boolean {
  return hostEnd.link_index === inside.ifindex && inside.link_index === hostEnd.ifindex;
}

export async function attachInterface(
  commands: HostCommands,
  naming: HostNaming,
  bridge: string,
  spec: ResolvedInterfaceSpec,
): Promise<AttachedInterface> {
  checkInterfaceSpec(spec);
  const hostEnd = hostVethName(naming, spec.netns, spec.ifName, sideOf(spec.network));
  const mtu = String(spec.mtu);
  const host = await findHostLink(commands, hostEnd);
  const inside = await findLinkIn(commands, spec.netns, spec.ifName);
  if (!host || !inside || !arePeers(host, inside)) {
    // A half-made pair (a crash between steps) or a stale interface: start again from nothing.
    if (host) await deleteLinkIfPresent(commands, hostEnd);
    // Deleting the host end also deletes its peer, which may have been `inside`: look again.
    if (inside && (await findLinkIn(commands, spec.netns, spec.ifName))) {
      await commands.ipIn(spec.netns, ["link", "delete", "dev", spec.ifName]);
    }
    await commands.ip(
      [
        ["link", "add", hostEnd, "mtu", mtu, "type", "veth"],
        ["peer", "name", spec.ifName, "mtu", mtu, "address", spec.mac, "netns", spec.netns],
      ].flat(),
    );
  }
  const alias = `collective netns=${spec.netns} if=${spec.ifName}`;
  await commands.ip([
    "link",
    "set",
    "dev",
    hostEnd,
    "master",
    bridge,
    "mtu",
    mtu,
    "addrgenmode",
    "none",
    "alias",
    alias,
    "up",
  ]);
  await commands.ipIn(spec.netns, ["link", "set", "dev", spec.ifName, "address", spec.mac, "mtu", mtu, "up"]);
  await reconcileInsideAddress(commands, spec);
  if (spec.defaultRoute !== undefined) {
    await commands.ipIn(spec.netns, [
      "route",
      "replace",
      "default",
      "via",
      spec.defaultRoute,
      "dev",
      spec.ifName,
    ]);
  }
  return { hostEnd, bridge };
}

async function reconcileInsideAddress(commands: HostCommands, spec: ResolvedInterfaceSpec): Promise<void> {
  const wanted = `${formatIpv4(parseIpv4(spec.address))}/${spec.prefixLength}`;
  const [state] = await commands.ipJsonIn<IpAddress[]>(spec.netns, [
    "-4",
    "addr",
    "show",
    "dev",
    spec.ifName,
  ]);
  for (const info of state?.addr_info ?? []) {
    const current = `${info.local}/${info.prefixlen}`;
    if (current !== wanted) await commands.ipIn(spec.netns, ["addr", "delete", current, "dev", spec.ifName]);
  }
  await commands.ipIn(spec.netns, ["addr", "replace", wanted, "dev", spec.ifName]);
}

/** Removes the pair (deleting one end deletes both). Nothing to do when it is already gone. */
export async function detachInterface(
  commands: HostCommands,
  naming: HostNaming,
  netns: string,
  ifName: string,
): Promise<void> {
  checkId(netns, "namespace name");
  checkLinkName(ifName, "interface name");
  await deleteLinkIfPresent(commands, hostVethName(naming, netns, ifName, "van"));
  await deleteLinkIfPresent(commands, hostVethName(naming, netns, ifName, "public"));
}
