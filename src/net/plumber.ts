/**
 * What the host agent asks of a host's network. The manager allocates (network ids, addresses, MACs) and
 * persists; the plumber only makes the host match, idempotently, so a retried or replayed step is harmless.
 */
import type { HostNetworkState } from "./host-inspect.js";
import type { NetworkRef } from "./host-names.js";
import type { AttachedInterface, InterfaceSpec } from "./interfaces.js";
import type { PublicPool } from "./public-pool.js";
import type { TapSpec } from "./taps.js";

export interface ExpectedNetwork {
  readonly vnis: readonly number[];
  readonly publicNetwork: boolean;
  /** VXLAN devices to keep, by network id. */
  readonly vxlans: readonly number[];
  readonly interfaces: readonly { readonly netns: string; readonly ifName: string }[];
  /** VM interfaces, by the VM's instance id. */
  readonly taps: readonly { readonly owner: string; readonly ifName: string }[];
  /** Full namespace names (as namespaceName() gives them). */
  readonly namespaces: readonly string[];
}

export interface SweepReport {
  /** Every object removed, e.g. "link cvb4097", "netns cv-old", "nft inet collective". */
  readonly removed: readonly string[];
}

export interface NetworkPlumber {
  /** Creates the appliance's namespace (loopback up) unless it exists; returns its name. */
  ensureNamespace(id: string): Promise<string>;
  removeNamespace(name: string): Promise<void>;
  /** The VAN's bridge (no host address) and the isolation rules. */
  ensureVan(vni: number): Promise<void>;
  /** Refused while an appliance interface is attached; removes the VAN's VXLAN device too. */
  removeVan(vni: number): Promise<void>;
  /** The public bridge, with the pool's host address. */
  ensurePublicNetwork(pool: PublicPool): Promise<void>;
  removePublicNetwork(): Promise<void>;
  attachInterface(spec: InterfaceSpec): Promise<AttachedInterface>;
  detachInterface(netns: string, ifName: string): Promise<void>;
  /** A VM interface: a tap on the bridge; returns the tap's name for qemu's -netdev tap,ifname=. */
  attachTap(spec: TapSpec): Promise<string>;
  detachTap(owner: string, ifName: string): Promise<void>;
  /** Joins the VAN's bridge to the same VAN on the `remotes` hosts. */
  ensureVxlan(vni: number, localIp: string, remotes: readonly string[]): Promise<void>;
  removeVxlan(vni: number): Promise<void>;
  inspect(): Promise<HostNetworkState>;
  /** Removes every Collective object not in `expected` (at agent start, before any other call). */
  sweep(expected: ExpectedNetwork): Promise<SweepReport>;
}

export type { NetworkRef };

/** Expect nothing: sweep() then removes every Collective object on the host. */
export const NOTHING_EXPECTED: ExpectedNetwork = {
  vnis: [],
  publicNetwork: false,
  vxlans: [],
  interfaces: [],
  taps: [],
  namespaces: [],
};
