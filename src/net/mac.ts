/**
 * MAC addresses of appliance interfaces. Each is derived from the interface's IPv4 address:
 * 02:c0:<four address octets>. 0x02 in the first octet marks it locally administered and unicast; c0 marks
 * it as Collective's. Derivation needs no state and survives restarts, and since VAN subnets are disjoint
 * from each other and from the public pool, an address is unique across the utility, and so is its MAC.
 */
import { CollectiveError } from "../errors.js";
import { parseIpv4 } from "./ipv4.js";

const macPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function macForAddress(address: number): string {
  const octets = [
    0x02,
    0xc0,
    (address >>> 24) & 255,
    (address >>> 16) & 255,
    (address >>> 8) & 255,
    address & 255,
  ];
  return octets.map((o) => o.toString(16).padStart(2, "0")).join(":");
}

export function macForDottedAddress(address: string): string {
  return macForAddress(parseIpv4(address));
}

/** Validates a MAC given to `ip`: lower-case, unicast (bit 0 of the first octet clear). */
export function checkMac(mac: string): string {
  if (!macPattern.test(mac) || (Number.parseInt(mac.slice(0, 2), 16) & 1) !== 0) {
    throw new CollectiveError(
      "BAD_MAC",
      `MAC address "${mac}" is not a lower-case unicast MAC like 02:c0:0a:10:00:02`,
    );
  }
  return mac;
}
