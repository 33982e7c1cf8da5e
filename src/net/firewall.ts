/**
 * Loading and removing Collective's nft tables. The script is rebuilt from the bridges that exist, so each
 * call leaves the tables exactly right whatever happened before (a crash, a hand edit, a flushed ruleset).
 */

import { firewallScript } from "./firewall-rules.js";
import type { HostCommands } from "./host-commands.js";
import { type HostNaming, parseOwnedLinkName } from "./host-names.js";
import { listHostLinks } from "./link-state.js";

export interface NftTable {
  readonly family: string;
  readonly name: string;
}

export async function listNftTables(commands: HostCommands): Promise<NftTable[]> {
  const listing = await commands.nftJson<{ nftables?: { table?: NftTable }[] }>(["list", "tables"]);
  const entries = Array.isArray(listing) ? [] : (listing.nftables ?? []);
  return entries.flatMap((entry) =>
    entry.table ? [{ family: entry.table.family, name: entry.table.name }] : [],
  );
}

/** Names of Collective's bridges on the host, plus any about to be created. */
export async function ownedBridges(commands: HostCommands, naming: HostNaming): Promise<string[]> {
  const links = await listHostLinks(commands);
  return links
    .filter((link) => {
      const owned = parseOwnedLinkName(naming, link.ifname);
      return owned?.kind === "van-bridge" || owned?.kind === "public-bridge";
    })
    .map((link) => link.ifname);
}

/**
 * Loads the rules for `bridges` (the wildcard rules already cover a bridge about to be created), or removes
 * the tables when there is no bridge left, so that a stopped utility leaves no rule behind.
 */
export async function applyFirewall(
  commands: HostCommands,
  naming: HostNaming,
  bridges: readonly string[],
): Promise<void> {
  if (bridges.length === 0) {
    await removeFirewall(commands, naming);
    return;
  }
  const script = firewallScript({ naming, bridges: [...new Set(bridges)].sort() });
  await commands.nft(["-f", "-"], { input: script });
}

export async function removeFirewall(commands: HostCommands, naming: HostNaming): Promise<void> {
  const tables = await listNftTables(commands);
  for (const table of tables) {
    if (table.name === naming.table && (table.family === "inet" || table.family === "bridge")) {
      await commands.nft(["delete", "table", table.family, table.name]);
    }
  }
}
