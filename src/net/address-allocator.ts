/**
 * Picking a free address inside a block: a VAN's /24 or the public pool. The block's network and
 * broadcast addresses are never handed out, nor any address the caller reserves (the public network's
 * host address, addresses held by other instances). Pure: the manager persists what it allocates.
 */
import { CollectiveError } from "../errors.js";
import { blockContains, blockSize, formatIpv4, formatIpv4Block, type Ipv4Block } from "./ipv4.js";

/** Every address of the block that may be given to an interface, lowest first. */
export function usableAddresses(block: Ipv4Block): number[] {
  const size = blockSize(block);
  // /31 and /32 have no network or broadcast address to skip (RFC 3021); we do not use them for VANs.
  if (size <= 2) return Array.from({ length: size }, (_, i) => block.network + i);
  return Array.from({ length: size - 2 }, (_, i) => block.network + 1 + i);
}

export interface AllocateOptions {
  /** Addresses already handed out or reserved. */
  readonly taken: ReadonlySet<number>;
  /** Try this address first (e.g. .1 for the interface the VAN's defaultroute names). */
  readonly preferred?: number;
  /** Words for the error message, e.g. "VAN 4096" or "the public pool". */
  readonly what: string;
}

export function allocateAddress(block: Ipv4Block, options: AllocateOptions): number {
  const { taken, preferred } = options;
  const usable = usableAddresses(block);
  if (preferred !== undefined) {
    if (!blockContains(block, preferred) || !usable.includes(preferred)) {
      throw new CollectiveError(
        "BAD_ADDRESS",
        `${formatIpv4(preferred)} is not a usable address of ${options.what} (${formatIpv4Block(block)})`,
      );
    }
    if (!taken.has(preferred)) return preferred;
  }
  const free = usable.find((address) => !taken.has(address));
  if (free === undefined) {
    throw new CollectiveError(
      "ADDRESSES_EXHAUSTED",
      `${options.what} (${formatIpv4Block(block)}) has no free address`,
      {
        hint: "stop an appliance that uses it, or register a larger pool",
      },
    );
  }
  return free;
}
