/**
 * What `ip -j -d link show` says about a link: only the fields Collective reads.
 */
import type { HostCommands } from "./host-commands.js";

export interface IpLink {
  readonly ifname: string;
  readonly ifindex: number;
  /** For a veth: the peer's ifindex (in the namespace link_netnsid names). */
  readonly link_index?: number;
  readonly address?: string;
  readonly mtu?: number;
  readonly master?: string;
  readonly operstate?: string;
  readonly flags?: readonly string[];
  readonly ifalias?: string;
  readonly link_netnsid?: number;
  readonly linkinfo?: {
    readonly info_kind?: string;
    readonly info_data?: {
      readonly id?: number;
      readonly local?: string;
      readonly port?: number;
    };
  };
}

export interface IpAddress {
  readonly ifname: string;
  readonly addr_info?: readonly {
    readonly family: string;
    readonly local: string;
    readonly prefixlen: number;
  }[];
}

/** Every link of the host namespace. */
export function listHostLinks(commands: HostCommands): Promise<IpLink[]> {
  return commands.ipJson<IpLink[]>(["-d", "link", "show"]);
}

/** One link of the host namespace, or undefined when it does not exist. */
export async function findHostLink(commands: HostCommands, name: string): Promise<IpLink | undefined> {
  const links = await listHostLinks(commands);
  return links.find((link) => link.ifname === name);
}

/** One link of an appliance's namespace, or undefined. */
export async function findLinkIn(
  commands: HostCommands,
  netns: string,
  name: string,
): Promise<IpLink | undefined> {
  const links = await commands.ipJsonIn<IpLink[]>(netns, ["-d", "link", "show"]);
  return links.find((link) => link.ifname === name);
}

export function isUp(link: IpLink): boolean {
  return link.flags?.includes("UP") ?? false;
}
