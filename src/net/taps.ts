/**
 * A VM's interface: a persistent tap device on the VAN's (or the public) bridge, which qemu opens with
 * `-netdev tap,ifname=NAME,script=no,downscript=no`. The guest sets its own MAC (qemu's `mac=`), address and
 * route from the config drive; the host side only needs the port.
 */
import { checkId, checkLinkName } from "../sys/names.js";
import { deleteLinkIfPresent } from "./bridges.js";
import type { HostCommands } from "./host-commands.js";
import { type HostNaming, type NetworkRef, sideOf, tapName } from "./host-names.js";
import { findHostLink } from "./link-state.js";

export interface TapSpec {
  readonly network: NetworkRef;
  /** The VM's instance id. */
  readonly owner: string;
  readonly ifName: string;
  /** Default: the plumber's MTU. */
  readonly mtu?: number;
}

export async function ensureTap(
  commands: HostCommands,
  naming: HostNaming,
  bridge: string,
  spec: TapSpec,
): Promise<string> {
  checkId(spec.owner, "VM id");
  checkLinkName(spec.ifName, "interface name");
  const name = tapName(naming, spec.owner, spec.ifName, sideOf(spec.network));
  const existing = await findHostLink(commands, name);
  const isTap = existing?.linkinfo?.info_kind === "tun";
  if (existing && !isTap) await deleteLinkIfPresent(commands, name);
  if (!isTap) await commands.ip(["tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr"]);
  const alias = `collective vm=${spec.owner} if=${spec.ifName}`;
  await commands.ip([
    "link",
    "set",
    "dev",
    name,
    "master",
    bridge,
    "mtu",
    String(spec.mtu),
    "addrgenmode",
    "none",
  ]);
  await commands.ip(["link", "set", "dev", name, "alias", alias, "up"]);
  return name;
}

export async function removeTap(
  commands: HostCommands,
  naming: HostNaming,
  owner: string,
  ifName: string,
): Promise<void> {
  checkId(owner, "VM id");
  checkLinkName(ifName, "interface name");
  await deleteLinkIfPresent(commands, tapName(naming, owner, ifName, "van"));
  await deleteLinkIfPresent(commands, tapName(naming, owner, ifName, "public"));
}
