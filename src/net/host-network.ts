/**
 * The host agent's network hands: VAN bridges, appliance interfaces, the public network, VXLAN, and the
 * nft isolation rules, each operation idempotent and touching only objects named with Collective's prefix.
 */
import { CollectiveError } from "../errors.js";
import { bridgePorts, deleteLinkIfPresent, ensureBridge } from "./bridges.js";
import { applyFirewall, ownedBridges, removeFirewall } from "./firewall.js";
import { HostCommands } from "./host-commands.js";
import { type HostNetworkState, inspectHost } from "./host-inspect.js";
import {
  bridgeName,
  checkNaming,
  type HostNaming,
  hostVethName,
  isOwnedNamespace,
  type NetworkRef,
  namespaceName,
  PRODUCTION_NAMING,
  publicBridgeName,
  tapName,
  vxlanName,
} from "./host-names.js";
import {
  type AttachedInterface,
  attachInterface,
  detachInterface,
  type InterfaceSpec,
} from "./interfaces.js";
import { KeyedLock } from "./keyed-lock.js";
import { ensureNamespace, listNamespaces, removeNamespace } from "./namespaces.js";
import type { ExpectedNetwork, NetworkPlumber, SweepReport } from "./plumber.js";
import type { PublicPool } from "./public-pool.js";
import { ensureTap, removeTap, type TapSpec } from "./taps.js";
import { checkVni } from "./van-subnet.js";
import { ensureVxlan } from "./vxlan.js";

/** Leaves room for VXLAN's 50 bytes on a 1500-byte underlay, so a VAN can span hosts without changes. */
export const DEFAULT_VAN_MTU = 1450;

export interface HostNetworkOptions {
  readonly naming?: HostNaming;
  /** Act inside this named namespace as if it were the host (tests; several "hosts" on one machine). */
  readonly hostNetns?: string;
  readonly mtu?: number;
}

export class HostNetwork implements NetworkPlumber {
  readonly naming: HostNaming;
  readonly mtu: number;
  private readonly commands: HostCommands;
  private readonly locks = new KeyedLock();
  /** Bridges being created: a concurrent firewall reload must keep them in same_bridge. */
  private readonly pendingBridges = new Set<string>();

  constructor(options: HostNetworkOptions = {}) {
    this.naming = checkNaming(options.naming ?? PRODUCTION_NAMING);
    this.commands = new HostCommands(options.hostNetns);
    this.mtu = options.mtu ?? DEFAULT_VAN_MTU;
  }

  async ensureNamespace(id: string): Promise<string> {
    const name = namespaceName(this.naming, id);
    await this.locks.run(`netns:${name}`, () => ensureNamespace(name));
    return name;
  }

  async removeNamespace(name: string): Promise<void> {
    if (!isOwnedNamespace(this.naming, name)) {
      throw new CollectiveError(
        "NOT_OURS",
        `namespace ${name} is not Collective's (${this.naming.prefix}-*): not removing it`,
      );
    }
    await this.locks.run(`netns:${name}`, () => removeNamespace(name));
  }

  async ensureVan(vni: number): Promise<void> {
    const bridge = bridgeName(this.naming, checkVni(vni));
    await this.locks.run(`van:${vni}`, () =>
      this.withRulesFirst(bridge, () =>
        ensureBridge(this.commands, { name: bridge, alias: `collective van ${vni}` }),
      ),
    );
  }

  async removeVan(vni: number): Promise<void> {
    const bridge = bridgeName(this.naming, checkVni(vni));
    const vxlan = vxlanName(this.naming, vni);
    await this.locks.run(`van:${vni}`, async () => {
      const inUse = (await bridgePorts(this.commands, bridge)).filter((port) => port.ifname !== vxlan);
      if (inUse.length > 0) {
        throw new CollectiveError(
          "VAN_IN_USE",
          `VAN ${vni} still has interfaces attached: ${inUse.map((port) => port.ifname).join(", ")}`,
          { hint: "detach (stop) its appliances first" },
        );
      }
      await deleteLinkIfPresent(this.commands, vxlan);
      await deleteLinkIfPresent(this.commands, bridge);
      await this.refreshFirewall();
    });
  }

  async ensurePublicNetwork(pool: PublicPool): Promise<void> {
    const bridge = publicBridgeName(this.naming);
    await this.locks.run("public", () =>
      this.withRulesFirst(bridge, () =>
        ensureBridge(this.commands, {
          name: bridge,
          alias: "collective public",
          hostAddress: { address: pool.hostAddress, block: pool.block },
        }),
      ),
    );
  }

  async removePublicNetwork(): Promise<void> {
    const bridge = publicBridgeName(this.naming);
    await this.locks.run("public", async () => {
      const inUse = await bridgePorts(this.commands, bridge);
      if (inUse.length > 0) {
        throw new CollectiveError(
          "PUBLIC_NETWORK_IN_USE",
          `the public network still has interfaces attached: ${inUse.map((port) => port.ifname).join(", ")}`,
          { hint: "stop the gateways that export an interface first" },
        );
      }
      await deleteLinkIfPresent(this.commands, bridge);
      await this.refreshFirewall();
    });
  }

  async attachInterface(spec: InterfaceSpec): Promise<AttachedInterface> {
    const bridge =
      spec.network === "public" ? publicBridgeName(this.naming) : bridgeName(this.naming, spec.network.vni);
    return this.locks.run(`if:${spec.netns}/${spec.ifName}`, async () => {
      if (!(await listNamespaces()).includes(spec.netns)) {
        throw new CollectiveError("NAMESPACE_NOT_FOUND", `network namespace ${spec.netns} does not exist`, {
          hint: "create it with ensureNamespace before attaching interfaces",
        });
      }
      if (!(await ownedBridges(this.commands, this.naming)).includes(bridge)) {
        const which = spec.network === "public" ? "the public network" : `VAN ${spec.network.vni}`;
        throw new CollectiveError("VAN_NOT_READY", `bridge ${bridge} of ${which} does not exist`, {
          hint: "ensure the network before attaching interfaces to it",
        });
      }
      return attachInterface(this.commands, this.naming, bridge, { ...spec, mtu: spec.mtu ?? this.mtu });
    });
  }

  async detachInterface(netns: string, ifName: string): Promise<void> {
    await this.locks.run(`if:${netns}/${ifName}`, () =>
      detachInterface(this.commands, this.naming, netns, ifName),
    );
  }

  async attachTap(spec: TapSpec): Promise<string> {
    const bridge = this.bridgeOf(spec.network);
    return this.locks.run(`tap:${spec.owner}/${spec.ifName}`, async () => {
      await this.requireBridge(bridge, spec.network);
      return ensureTap(this.commands, this.naming, bridge, { ...spec, mtu: spec.mtu ?? this.mtu });
    });
  }

  async detachTap(owner: string, ifName: string): Promise<void> {
    await this.locks.run(`tap:${owner}/${ifName}`, () =>
      removeTap(this.commands, this.naming, owner, ifName),
    );
  }

  async ensureVxlan(vni: number, localIp: string, remotes: readonly string[]): Promise<void> {
    const spec = {
      vni: checkVni(vni),
      name: vxlanName(this.naming, vni),
      bridge: bridgeName(this.naming, vni),
      localIp,
      remotes,
      mtu: this.mtu,
    };
    await this.locks.run(`van:${vni}`, () => ensureVxlan(this.commands, spec));
  }

  async removeVxlan(vni: number): Promise<void> {
    const name = vxlanName(this.naming, checkVni(vni));
    await this.locks.run(`van:${vni}`, () => deleteLinkIfPresent(this.commands, name));
  }

  inspect(): Promise<HostNetworkState> {
    return inspectHost(this.commands, this.naming);
  }

  async sweep(expected: ExpectedNetwork): Promise<SweepReport> {
    const removed: string[] = [];
    const state = await this.inspect();
    const keepVeths = new Set(
      expected.interfaces.flatMap(({ netns, ifName }) => [
        hostVethName(this.naming, netns, ifName, "van"),
        hostVethName(this.naming, netns, ifName, "public"),
      ]),
    );
    const removeLink = async (name: string) => {
      await deleteLinkIfPresent(this.commands, name);
      removed.push(`link ${name}`);
    };
    const keepTaps = new Set(
      expected.taps.flatMap(({ owner, ifName }) => [
        tapName(this.naming, owner, ifName, "van"),
        tapName(this.naming, owner, ifName, "public"),
      ]),
    );
    for (const veth of state.veths) if (!keepVeths.has(veth.hostEnd)) await removeLink(veth.hostEnd);
    for (const tap of state.taps) if (!keepTaps.has(tap.name)) await removeLink(tap.name);
    for (const vxlan of state.vxlans) if (!expected.vxlans.includes(vxlan.vni)) await removeLink(vxlan.name);
    for (const van of state.vans)
      if (van.vni !== undefined && !expected.vnis.includes(van.vni)) await removeLink(van.name);
    if (state.publicBridge && !expected.publicNetwork) await removeLink(state.publicBridge.name);
    for (const name of state.namespaces) {
      if (!expected.namespaces.includes(name)) {
        await removeNamespace(name);
        removed.push(`netns ${name}`);
      }
    }
    const before = state.nftTables.length;
    await this.refreshFirewall();
    if (before > 0 && (await ownedBridges(this.commands, this.naming)).length === 0) {
      removed.push(...state.nftTables.map((table) => `nft ${table.family} ${table.name}`));
    }
    return { removed };
  }

  /** Removes the nft tables whatever exists (for a host being decommissioned, and for tests). */
  async removeFirewall(): Promise<void> {
    await this.locks.run("firewall", () => removeFirewall(this.commands, this.naming));
  }

  private bridgeOf(network: NetworkRef): string {
    return network === "public" ? publicBridgeName(this.naming) : bridgeName(this.naming, network.vni);
  }

  private async requireBridge(bridge: string, network: NetworkRef): Promise<void> {
    if (!(await ownedBridges(this.commands, this.naming)).includes(bridge)) {
      const which = network === "public" ? "the public network" : `VAN ${network.vni}`;
      throw new CollectiveError("VAN_NOT_READY", `bridge ${bridge} of ${which} does not exist`, {
        hint: "ensure the network before attaching interfaces to it",
      });
    }
  }

  /** Loads the rules that cover `bridge` before creating it: a bridge is never up without them. */
  private async withRulesFirst(bridge: string, create: () => Promise<void>): Promise<void> {
    this.pendingBridges.add(bridge);
    try {
      await this.refreshFirewall();
      await create();
    } finally {
      this.pendingBridges.delete(bridge);
    }
  }

  /** Reloads the rules for the bridges that exist or are being created. */
  private async refreshFirewall(): Promise<void> {
    await this.locks.run("firewall", async () => {
      const bridges = [...(await ownedBridges(this.commands, this.naming)), ...this.pendingBridges];
      await applyFirewall(this.commands, this.naming, bridges);
    });
  }
}
