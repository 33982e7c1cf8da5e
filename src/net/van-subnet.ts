/**
 * A VAN's network id (VNI) and the subnet derived from it, as in the LISA paper (5.1.1): the VAN gets
 * 10.x.y.0/24 with x.y taken from its network id, x = (vni >> 8) & 255 and y = vni & 255.
 *
 * Limits: the mapping has 16 bits, so only VNIs 1..65535 are usable although VXLAN ids have 24 bits (a
 * larger VNI would alias a smaller one's subnet); VNI 0 (10.0.0.0/24) is refused because 0 is "no VNI"
 * in many tools. Every VAN has 254 usable addresses (.1-.254): .0 is the network, .255 the broadcast.
 */
import { CollectiveError } from "../errors.js";
import { blocksOverlap, formatIpv4Block, type Ipv4Block } from "./ipv4.js";

export const MIN_VNI = 1;
export const MAX_VNI = 65535;
export const VAN_PREFIX_LENGTH = 24;

export function checkVni(vni: number, field = "network id"): number {
  if (!Number.isInteger(vni) || vni < MIN_VNI || vni > MAX_VNI) {
    throw new CollectiveError(
      "BAD_VNI",
      `${field} ${vni} is not valid: use an integer from ${MIN_VNI} to ${MAX_VNI}`,
      {
        hint: "VAN subnets are 10.x.y.0/24 with x.y taken from the 16-bit network id (see docs/networking.md)",
      },
    );
  }
  return vni;
}

/** The VAN's subnet: 10.((vni >> 8) & 255).(vni & 255).0/24. */
export function vanSubnet(vni: number): Ipv4Block {
  checkVni(vni);
  return {
    network: ((10 << 24) | (((vni >> 8) & 255) << 16) | ((vni & 255) << 8)) >>> 0,
    prefixLength: VAN_PREFIX_LENGTH,
  };
}

/** The address .host of the VAN's subnet (host 1..254). */
export function vanAddress(vni: number, host: number): number {
  if (!Number.isInteger(host) || host < 1 || host > 254) {
    throw new CollectiveError("BAD_ADDRESS", `host number ${host} is outside a VAN's usable range 1-254`);
  }
  return (vanSubnet(vni).network + host) >>> 0;
}

/** The range of network ids the administrator registered (inclusive). */
export interface VniPool {
  readonly first: number;
  readonly last: number;
}

/** Default pool: 4096-8191, i.e. subnets 10.16.0.0/24 .. 10.31.255.0/24 (away from 10.0/12 LANs). */
export const DEFAULT_VNI_POOL: VniPool = { first: 4096, last: 8191 };

/** Parses "4096-8191" (or a single "4100"). */
export function parseVniPool(text: string): VniPool {
  const match = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text.trim());
  if (!match) throw new CollectiveError("BAD_VNI", `network id pool "${text}" is not a range like 4096-8191`);
  const first = checkVni(Number(match[1]), "first network id");
  const last = checkVni(Number(match[2] ?? match[1]), "last network id");
  if (last < first) throw new CollectiveError("BAD_VNI", `network id pool "${text}" ends before it starts`);
  return { first, last };
}

/** The pool must not derive a subnet that overlaps the public pool (or any other block the host uses). */
export function checkVniPoolAvoids(pool: VniPool, block: Ipv4Block, what: string): void {
  for (let vni = pool.first; vni <= pool.last; vni++) {
    if (blocksOverlap(vanSubnet(vni), block)) {
      throw new CollectiveError(
        "POOL_OVERLAP",
        `network id ${vni} of pool ${pool.first}-${pool.last} gives subnet ${formatIpv4Block(vanSubnet(vni))}, which overlaps the ${what} ${formatIpv4Block(block)}`,
        { hint: "register a network id pool and public pool that do not overlap" },
      );
    }
  }
}

/** The lowest free network id of the pool, or undefined when all are in use. */
export function nextFreeVni(pool: VniPool, used: ReadonlySet<number>): number | undefined {
  for (let vni = pool.first; vni <= pool.last; vni++) if (!used.has(vni)) return vni;
  return undefined;
}
