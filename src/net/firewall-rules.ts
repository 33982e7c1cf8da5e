/**
 * The isolation policy as an nft script, regenerated in full from the bridges that exist and loaded in one
 * transaction (so it is idempotent and repairs itself). Two tables named after Collective:
 *
 * - `bridge <table>`: frames that enter a VAN bridge from an appliance (veth or tap) or a VXLAN tunnel and are addressed
 *   to the host itself are dropped. VAN bridges carry no host address, and this closes the rest (a
 *   hand-made neighbour entry pointing at the bridge's MAC, IPv6, anything).
 * - `inet <table>`: nothing is routed into or out of a VAN bridge, and the host accepts from the public
 *   bridge only what answers its own connections. With br_netfilter loaded, frames bridged inside one
 *   bridge also pass the inet forward hook with the bridge as both input and output: the same_bridge set
 *   lets them through, so a VAN (or the public network) is one Ethernet and nothing more.
 *
 * Traffic between VANs therefore passes only through their gateways: a gateway has one interface in its VAN
 * and one in its parent VAN or on the public network, and forwards (and NATs) in its own namespace.
 */
import type { HostNaming } from "./host-names.js";

export interface FirewallInputs {
  readonly naming: HostNaming;
  /** Names of the bridges that exist: VAN bridges and the public bridge. */
  readonly bridges: readonly string[];
}

export function firewallScript({ naming, bridges }: FirewallInputs): string {
  const { prefix, table } = naming;
  const q = (name: string) => `"${name}"`;
  const vanBridges = q(`${prefix}b*`);
  const publicBridge = q(`${prefix}pub`);
  const sameBridge = bridges.map((name) => `${q(name)} . ${q(name)}`).join(", ");
  return [
    // Create-then-delete makes the delete safe when the table does not exist yet; all in one transaction.
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table bridge ${table}`,
    `delete table bridge ${table}`,
    `table inet ${table} {`,
    "  set same_bridge {",
    "    type ifname . ifname",
    ...(sameBridge ? [`    elements = { ${sameBridge} }`] : []),
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    "    iifname . oifname @same_bridge accept",
    `    iifname ${vanBridges} drop`,
    `    oifname ${vanBridges} drop`,
    `    iifname ${publicBridge} drop`,
    `    oifname ${publicBridge} drop`,
    "  }",
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    iifname ${vanBridges} drop`,
    `    iifname ${publicBridge} ct state established,related accept`,
    `    iifname ${publicBridge} drop`,
    "  }",
    "}",
    `table bridge ${table} {`,
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    iifname ${q(`${prefix}v*`)} drop`,
    `    iifname ${q(`${prefix}q*`)} drop`, // VM taps on VANs (public taps, r, are like e)
    `    iifname ${q(`${prefix}x*`)} drop`,
    "  }",
    "}",
    "",
  ].join("\n");
}
