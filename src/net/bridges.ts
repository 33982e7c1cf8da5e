/**
 * Linux bridges: one per VAN (no host address, so appliances have nothing of the host to talk to) and the
 * public bridge (the host's address of the public pool, so the host reaches gateways' public addresses).
 */
import { CollectiveError } from "../errors.js";
import type { HostCommands } from "./host-commands.js";
import { formatIpv4, type Ipv4Block } from "./ipv4.js";
import { findHostLink, type IpAddress, type IpLink, listHostLinks } from "./link-state.js";

export interface BridgeSpec {
  readonly name: string;
  /** Shown by `ip link` (ifalias), for people reading the host by hand. */
  readonly alias: string;
  /** The host's address on the bridge; none for VAN bridges. */
  readonly hostAddress?: { readonly address: number; readonly block: Ipv4Block };
}

export async function ensureBridge(commands: HostCommands, spec: BridgeSpec): Promise<void> {
  const existing = await findHostLink(commands, spec.name);
  if (existing && existing.linkinfo?.info_kind !== "bridge") {
    throw new CollectiveError(
      "NAME_CONFLICT",
      `${spec.name} exists but is a ${existing.linkinfo?.info_kind ?? "link"}, not a bridge`,
      {
        hint: `names starting with this prefix are Collective's: remove it with ip link delete ${spec.name}`,
      },
    );
  }
  if (!existing) {
    try {
      await commands.ip(["link", "add", spec.name, "type", "bridge"]);
    } catch (error) {
      if (!(await findHostLink(commands, spec.name))) throw error;
    }
  }
  // No IPv6 link-local address either: the host must not be an endpoint on a VAN.
  await commands.ip(["link", "set", "dev", spec.name, "addrgenmode", "none", "alias", spec.alias]);
  await reconcileAddresses(commands, spec);
  await commands.ip(["link", "set", "dev", spec.name, "up"]);
}

/** Removes every address the bridge should not have and adds the one it should. */
async function reconcileAddresses(commands: HostCommands, spec: BridgeSpec): Promise<void> {
  const [state] = await commands.ipJson<IpAddress[]>(["addr", "show", "dev", spec.name]);
  const wanted = spec.hostAddress
    ? `${formatIpv4(spec.hostAddress.address)}/${spec.hostAddress.block.prefixLength}`
    : undefined;
  for (const info of state?.addr_info ?? []) {
    const current = `${info.local}/${info.prefixlen}`;
    if (current !== wanted) await commands.ip(["addr", "delete", current, "dev", spec.name]);
  }
  if (wanted) await commands.ip(["addr", "replace", wanted, "dev", spec.name]);
}

/** The links enslaved to a bridge. */
export async function bridgePorts(commands: HostCommands, bridge: string): Promise<IpLink[]> {
  const links = await listHostLinks(commands);
  return links.filter((link) => link.master === bridge);
}

export async function deleteLinkIfPresent(commands: HostCommands, name: string): Promise<void> {
  if (await findHostLink(commands, name)) await commands.ip(["link", "delete", "dev", name]);
}
