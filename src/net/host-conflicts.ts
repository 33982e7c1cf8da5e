/**
 * Whether a public pool would capture traffic the host already sends elsewhere. The public bridge gets
 * the pool's first address, and with it a host route for the whole block: any of the host's own
 * networks, addresses or DNS servers inside the block would become unreachable. (This happened: a
 * default pool once held the build machine's DNS server.)
 */
import { readFile } from "node:fs/promises";
import { CollectiveError } from "../errors.js";
import { execJson } from "../sys/exec.js";
import type { HostNaming } from "./host-names.js";
import { blockContains, blocksOverlap, formatIpv4Block, type Ipv4Block, maskFor, parseIpv4 } from "./ipv4.js";
import type { PublicPool } from "./public-pool.js";

interface RouteJson {
  dst?: string;
  dev?: string;
}

interface AddrJson {
  ifname?: string;
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

/** What the host reaches that the pool would capture, in words; empty when the pool is safe. */
export async function publicPoolConflicts(
  pool: PublicPool,
  naming: HostNaming,
  options: { resolvConf?: string } = {},
): Promise<string[]> {
  const ours = (dev: string | undefined) => dev?.startsWith(naming.prefix) === true;
  const conflicts: string[] = [];
  const overlaps = (text: string): boolean => {
    try {
      // An interface's "10.1.2.3/24" is not a network address: mask it rather than refuse it.
      const [address, prefix] = text.split("/");
      const prefixLength = prefix === undefined ? 32 : Number(prefix);
      const block: Ipv4Block = { network: (parseIpv4(address!) & maskFor(prefixLength)) >>> 0, prefixLength };
      return blocksOverlap(block, pool.block);
    } catch {
      return false; // IPv6 or a form we do not compare
    }
  };
  for (const route of await execJson<RouteJson[]>("ip", ["-j", "-4", "route", "show"])) {
    if (!route.dst || route.dst === "default" || ours(route.dev)) continue;
    if (overlaps(route.dst)) conflicts.push(`the route to ${route.dst} via ${route.dev ?? "?"}`);
  }
  for (const link of await execJson<AddrJson[]>("ip", ["-j", "-4", "addr", "show"])) {
    if (ours(link.ifname)) continue;
    for (const a of link.addr_info ?? []) {
      if (a.local && overlaps(`${a.local}/${a.prefixlen ?? 32}`))
        conflicts.push(`the address ${a.local} of ${link.ifname}`);
    }
  }
  const resolv = await readFile(options.resolvConf ?? "/etc/resolv.conf", "utf8").catch(() => "");
  for (const line of resolv.split("\n")) {
    const match = /^\s*nameserver\s+([0-9.]+)\s*$/.exec(line);
    if (!match) continue;
    try {
      if (blockContains(pool.block, parseIpv4(match[1]!)))
        conflicts.push(`the DNS server ${match[1]} (/etc/resolv.conf)`);
    } catch {
      // not IPv4
    }
  }
  return conflicts;
}

/** Throws POOL_CONFLICT naming what the pool would capture. */
export async function checkPublicPool(
  pool: PublicPool,
  naming: HostNaming,
  options: { resolvConf?: string } = {},
): Promise<void> {
  const conflicts = await publicPoolConflicts(pool, naming, options);
  if (conflicts.length > 0) {
    throw new CollectiveError(
      "POOL_CONFLICT",
      `the public pool ${formatIpv4Block(pool.block)} contains what this host already reaches another way: ${conflicts.join("; ")}; using it would cut that off`,
      { hint: "register a public pool that does not overlap them: cui pool set public A.B.C.0/24" },
    );
  }
}
