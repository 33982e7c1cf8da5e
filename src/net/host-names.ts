/**
 * Names of the host objects Collective owns. Everything starts with one prefix ("cv" in production, a
 * random one per test run) followed by a kind letter, so that inspect() and sweep() recognise exactly
 * Collective's own objects and never touch anything else on the host:
 *
 *   <prefix>b<vni>     the VAN's bridge              cvb4096
 *   <prefix>x<vni>     the VAN's VXLAN device        cvx4096
 *   <prefix>pub        the public bridge             cvpub
 *   <prefix>v<hash8>   host end of a VAN interface's veth      cvv1a2b3c4d (hash of namespace and interface)
 *   <prefix>e<hash8>   host end of an exported interface's veth (on the public bridge)
 *   <prefix>q<hash8>   a VM's tap device (qemu) on a VAN bridge
 *   <prefix>r<hash8>   a VM's tap device on the public bridge
 *   <prefix>-<id>      a network namespace           cv-acme.web
 *
 * Link names stay within Linux's 15 bytes: a prefix of at most 6 characters leaves room for the rest.
 */
import { createHash } from "node:crypto";
import { CollectiveError } from "../errors.js";
import { checkId, checkLinkName } from "../sys/names.js";
import { checkVni } from "./van-subnet.js";

const prefixPattern = /^[a-z][a-z0-9]{1,5}$/;
const tablePattern = /^[a-z][a-z0-9_]{0,31}$/;

export interface HostNaming {
  readonly prefix: string;
  /** nft table name, used in families inet and bridge. */
  readonly table: string;
}

export const PRODUCTION_NAMING: HostNaming = { prefix: "cv", table: "collective" };

export function checkNaming(naming: HostNaming): HostNaming {
  if (!prefixPattern.test(naming.prefix)) {
    throw new CollectiveError(
      "BAD_NAME",
      `name prefix "${naming.prefix}" must be 2-6 characters a-z, 0-9, starting with a letter`,
    );
  }
  if (!tablePattern.test(naming.table)) {
    throw new CollectiveError(
      "BAD_NAME",
      `nft table name "${naming.table}" must be 1-32 characters a-z, 0-9, '_'`,
    );
  }
  return naming;
}

export function bridgeName(naming: HostNaming, vni: number): string {
  return checkLinkName(`${naming.prefix}b${checkVni(vni)}`, "bridge name");
}

export function vxlanName(naming: HostNaming, vni: number): string {
  return checkLinkName(`${naming.prefix}x${checkVni(vni)}`, "VXLAN device name");
}

export function publicBridgeName(naming: HostNaming): string {
  return checkLinkName(`${naming.prefix}pub`, "public bridge name");
}

/** Which bridge an interface joins: a VAN's, or the public one (a root gateway's exported interface). */
export type NetworkRef = { readonly vni: number } | "public";
export type VethSide = "van" | "public";

export function sideOf(network: NetworkRef): VethSide {
  return network === "public" ? "public" : "van";
}

/**
 * The host end of the veth of interface `ifName` in namespace `netns`: the same inputs, the same name. The
 * kind letter tells VAN ports (v) from public ports (e), which the bridge firewall treats differently.
 */
export function hostVethName(naming: HostNaming, netns: string, ifName: string, side: VethSide): string {
  const hash = createHash("sha256").update(`${netns}\0${ifName}`).digest("hex").slice(0, 8);
  const kind = side === "public" ? "e" : "v";
  return checkLinkName(`${naming.prefix}${kind}${hash}`, "veth name");
}

/** A VM interface's tap device, named from the VM's instance id and the interface's name. */
export function tapName(naming: HostNaming, owner: string, ifName: string, side: VethSide): string {
  const hash = createHash("sha256").update(`${owner}\0${ifName}`).digest("hex").slice(0, 8);
  return checkLinkName(`${naming.prefix}${side === "public" ? "r" : "q"}${hash}`, "tap name");
}

export function namespaceName(naming: HostNaming, id: string): string {
  return checkId(`${naming.prefix}-${checkId(id, "namespace id")}`, "namespace name");
}

/** What a link name says about itself, or undefined when it is not one of ours. */
export type OwnedLinkName =
  | { readonly kind: "van-bridge"; readonly vni: number }
  | { readonly kind: "vxlan"; readonly vni: number }
  | { readonly kind: "public-bridge" }
  | { readonly kind: "veth"; readonly side: VethSide }
  | { readonly kind: "tap"; readonly side: VethSide };

export function parseOwnedLinkName(naming: HostNaming, name: string): OwnedLinkName | undefined {
  if (!name.startsWith(naming.prefix)) return undefined;
  const rest = name.slice(naming.prefix.length);
  if (rest === "pub") return { kind: "public-bridge" };
  const numbered = /^([bx])([1-9][0-9]{0,4})$/.exec(rest);
  if (numbered) {
    const vni = Number(numbered[2]);
    if (vni > 65535) return undefined;
    return numbered[1] === "b" ? { kind: "van-bridge", vni } : { kind: "vxlan", vni };
  }
  const tap = /^([qr])[0-9a-f]{8}$/.exec(rest);
  if (tap) return { kind: "tap", side: tap[1] === "r" ? "public" : "van" };
  const veth = /^([ve])[0-9a-f]{8}$/.exec(rest);
  if (veth) return { kind: "veth", side: veth[1] === "e" ? "public" : "van" };
  return undefined;
}

export function isOwnedNamespace(naming: HostNaming, name: string): boolean {
  return name.startsWith(`${naming.prefix}-`);
}
