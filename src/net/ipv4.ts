/**
 * IPv4 addresses as 32-bit numbers, and CIDR blocks. Parsing is strict (four decimal octets, no leading
 * zeros, a prefix length 0-32) because every address ends up as an argument of `ip` or in an nft rule.
 */
import { CollectiveError } from "../errors.js";

export interface Ipv4Block {
  /** The block's first address (host bits zero), as an unsigned 32-bit number. */
  readonly network: number;
  readonly prefixLength: number;
}

const octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const dotted = new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`);

export function parseIpv4(text: string, field = "IPv4 address"): number {
  const match = dotted.exec(text);
  if (!match)
    throw new CollectiveError(
      "BAD_ADDRESS",
      `${field} "${text}" is not a dotted IPv4 address like 10.16.0.2`,
    );
  return (
    ((Number(match[1]) << 24) | (Number(match[2]) << 16) | (Number(match[3]) << 8) | Number(match[4])) >>> 0
  );
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

export function maskFor(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** Parses "10.255.255.0/24"; the address must be the block's first address (no host bits set). */
export function parseIpv4Block(text: string, field = "IPv4 block"): Ipv4Block {
  const [address, length, extra] = text.split("/");
  if (
    address === undefined ||
    length === undefined ||
    extra !== undefined ||
    !/^(3[0-2]|[12]?[0-9])$/.test(length)
  ) {
    throw new CollectiveError("BAD_ADDRESS", `${field} "${text}" is not a CIDR block like 10.255.255.0/24`);
  }
  const prefixLength = Number(length);
  const network = parseIpv4(address, field);
  if ((network & ~maskFor(prefixLength)) >>> 0 !== 0) {
    const fixed = `${formatIpv4((network & maskFor(prefixLength)) >>> 0)}/${prefixLength}`;
    throw new CollectiveError("BAD_ADDRESS", `${field} "${text}" has host bits set`, {
      hint: `did you mean ${fixed}?`,
    });
  }
  return { network, prefixLength };
}

export function formatIpv4Block(block: Ipv4Block): string {
  return `${formatIpv4(block.network)}/${block.prefixLength}`;
}

export function blockSize(block: Ipv4Block): number {
  return 2 ** (32 - block.prefixLength);
}

export function blockContains(block: Ipv4Block, address: number): boolean {
  return (address & maskFor(block.prefixLength)) >>> 0 === block.network;
}

export function blocksOverlap(a: Ipv4Block, b: Ipv4Block): boolean {
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  const mask = maskFor(shorter);
  return (a.network & mask) >>> 0 === (b.network & mask) >>> 0;
}

/** The dotted netmask of a prefix length, e.g. 24 -> 255.255.255.0 (CVL's `netmask` parameter). */
export function netmaskOf(prefixLength: number): string {
  return formatIpv4(maskFor(prefixLength));
}
