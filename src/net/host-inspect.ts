/**
 * Everything Collective owns on a host, read from the kernel (never from our own memory): for the agent to
 * adopt after a restart, for `cui doctor` and for leak checks in tests.
 */

import { listNftTables, type NftTable } from "./firewall.js";
import type { HostCommands } from "./host-commands.js";
import { type HostNaming, isOwnedNamespace, parseOwnedLinkName, type VethSide } from "./host-names.js";
import { listHostLinks } from "./link-state.js";
import { listNamespaces } from "./namespaces.js";
import { currentRemotes } from "./vxlan.js";

export interface InspectedBridge {
  readonly name: string;
  /** The VAN's network id; undefined for the public bridge. */
  readonly vni?: number;
  readonly ports: readonly string[];
}

export interface InspectedVeth {
  readonly hostEnd: string;
  readonly side: VethSide;
  readonly bridge?: string;
  /** From the alias set at attach time: where the other end lives. */
  readonly netns?: string;
  readonly ifName?: string;
}

export interface InspectedTap {
  readonly name: string;
  readonly side: VethSide;
  readonly bridge?: string;
  /** From the alias set at attach time: the VM and its interface. */
  readonly owner?: string;
  readonly ifName?: string;
}

export interface InspectedVxlan {
  readonly name: string;
  readonly vni: number;
  readonly bridge?: string;
  readonly local?: string;
  readonly remotes: readonly string[];
}

export interface HostNetworkState {
  readonly vans: readonly InspectedBridge[];
  readonly publicBridge?: InspectedBridge;
  readonly veths: readonly InspectedVeth[];
  readonly taps: readonly InspectedTap[];
  readonly vxlans: readonly InspectedVxlan[];
  readonly namespaces: readonly string[];
  readonly nftTables: readonly NftTable[];
}

const aliasPattern = /^collective netns=(\S+) if=(\S+)$/;
const tapAliasPattern = /^collective vm=(\S+) if=(\S+)$/;

export async function inspectHost(commands: HostCommands, naming: HostNaming): Promise<HostNetworkState> {
  const links = await listHostLinks(commands);
  const portsOf = (bridge: string) =>
    links.filter((link) => link.master === bridge).map((link) => link.ifname);
  const vans: InspectedBridge[] = [];
  const veths: InspectedVeth[] = [];
  const taps: InspectedTap[] = [];
  const vxlans: InspectedVxlan[] = [];
  let publicBridge: InspectedBridge | undefined;
  for (const link of links) {
    const owned = parseOwnedLinkName(naming, link.ifname);
    if (!owned) continue;
    switch (owned.kind) {
      case "van-bridge":
        vans.push({ name: link.ifname, vni: owned.vni, ports: portsOf(link.ifname) });
        break;
      case "public-bridge":
        publicBridge = { name: link.ifname, ports: portsOf(link.ifname) };
        break;
      case "veth": {
        const alias = aliasPattern.exec(link.ifalias ?? "");
        veths.push({
          hostEnd: link.ifname,
          side: owned.side,
          ...(link.master ? { bridge: link.master } : {}),
          ...(alias ? { netns: alias[1]!, ifName: alias[2]! } : {}),
        });
        break;
      }
      case "tap": {
        const alias = tapAliasPattern.exec(link.ifalias ?? "");
        taps.push({
          name: link.ifname,
          side: owned.side,
          ...(link.master ? { bridge: link.master } : {}),
          ...(alias ? { owner: alias[1]!, ifName: alias[2]! } : {}),
        });
        break;
      }
      case "vxlan":
        vxlans.push({
          name: link.ifname,
          vni: owned.vni,
          ...(link.master ? { bridge: link.master } : {}),
          ...(link.linkinfo?.info_data?.local ? { local: link.linkinfo.info_data.local } : {}),
          remotes: await currentRemotes(commands, link.ifname),
        });
        break;
    }
  }
  const namespaces = (await listNamespaces()).filter((name) => isOwnedNamespace(naming, name)).sort();
  const nftTables = (await listNftTables(commands)).filter((table) => table.name === naming.table);
  // Sorted, so that two inspections of the same host compare equal.
  vans.sort((a, b) => (a.vni ?? 0) - (b.vni ?? 0));
  vxlans.sort((a, b) => a.vni - b.vni);
  veths.sort((a, b) => a.hostEnd.localeCompare(b.hostEnd));
  taps.sort((a, b) => a.name.localeCompare(b.name));
  return { vans, ...(publicBridge ? { publicBridge } : {}), veths, taps, vxlans, namespaces, nftTables };
}
