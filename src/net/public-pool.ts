/**
 * The public pool: a host-side network for exported interfaces that do not join another VAN (a root
 * VAN's gateway). The host owns its first usable address, on the public bridge, so that it can reach
 * every gateway's public address; gateways get the others.
 *
 * Default 10.15.255.0/24: inside 10/8 like the VAN subnets, derived from network id 4095, just below the
 * default network id pool (4096-8191); checkVniPoolAvoids refuses a pool that would contain it. The public
 * bridge takes a host route for the whole block, so a block the host already reaches through another
 * route (its DNS server, say) must not be used: see host-conflicts.ts.
 */
import { CollectiveError } from "../errors.js";
import { allocateAddress } from "./address-allocator.js";
import { formatIpv4Block, type Ipv4Block, parseIpv4Block } from "./ipv4.js";

export interface PublicPool {
  readonly block: Ipv4Block;
  /** The host's own address on the public bridge. */
  readonly hostAddress: number;
}

export const DEFAULT_PUBLIC_POOL_CIDR = "10.15.255.0/24";

export function parsePublicPool(cidr: string): PublicPool {
  const block = parseIpv4Block(cidr, "public pool");
  if (block.prefixLength < 16 || block.prefixLength > 29) {
    throw new CollectiveError(
      "BAD_ADDRESS",
      `public pool ${formatIpv4Block(block)} must be a block from /16 to /29`,
    );
  }
  return { block, hostAddress: block.network + 1 };
}

export const DEFAULT_PUBLIC_POOL: PublicPool = parsePublicPool(DEFAULT_PUBLIC_POOL_CIDR);

/** A free public address for a gateway's exported interface; never the host's own address. */
export function allocatePublicAddress(pool: PublicPool, taken: ReadonlySet<number>): number {
  return allocateAddress(pool.block, {
    taken: new Set([...taken, pool.hostAddress]),
    what: "the public pool",
  });
}
