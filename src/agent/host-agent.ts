/**
 * The host agent: the manager's hands on one machine. The manager never runs runc, ip or nft itself; it
 * asks a HostAgent, which composes the machine drivers and the network plumber. In the embedded default
 * the agent lives in the daemon's process (LocalHostAgent); between machines the same interface is served
 * over HTTPS with mutual TLS. Every call is idempotent, so the manager can repeat any step after a crash.
 */

import { CollectiveError } from "../errors.js";
import { checkPublicPool } from "../net/host-conflicts.js";
import { type HostNaming, type NetworkRef, namespaceName } from "../net/host-names.js";
import type { NetworkPlumber } from "../net/plumber.js";
import type { PublicPool } from "../net/public-pool.js";
import type { LogOptions, MachineDriver, MachineSpec, MachineState, Reconfiguration } from "./driver.js";

/** One interface of a machine, as the manager allocated it. */
export interface MachineInterface {
  readonly network: NetworkRef;
  readonly ifName: string;
  readonly mac: string;
  readonly address: string;
  readonly prefixLength: number;
  readonly defaultRoute?: string;
}

export interface StartMachineRequest {
  /** Everything but the network namespace, which the agent creates and wires. */
  readonly spec: Omit<MachineSpec, "netnsPath">;
  readonly interfaces: readonly MachineInterface[];
  /** The names of the sensitive parameters the machine is given (spec.secrets), stored without values. */
  readonly secretNames?: readonly string[];
}

export interface HostAgent {
  /** Bridges for these VANs, and the public network when a pool is given. */
  ensureNetworks(vnis: readonly number[], publicPool: PublicPool | undefined): Promise<void>;
  /** Removes the VANs' bridges (and the public network when asked and nothing uses it). */
  removeNetworks(vnis: readonly number[], publicNetwork: boolean): Promise<void>;
  /** Creates the machine's namespace, attaches its interfaces and starts it. */
  startMachine(request: StartMachineRequest): Promise<MachineState>;
  waitUntilReady(id: string, timeoutMs: number): Promise<MachineState>;
  /** Stops the machine and releases its namespace and interfaces; its files and data disks stay. */
  stopMachine(id: string, timeoutSec?: number): Promise<void>;
  inspectMachine(id: string): Promise<MachineState | undefined>;
  /** Forgets a stopped machine whose files went elsewhere (the attic); its data disks are not touched. */
  forgetMachine(id: string): Promise<void>;
  /** New parameters for a running machine, without a restart (see MachineDriver.reconfigure). */
  reconfigureMachine(id: string, change: Reconfiguration): Promise<void>;
  listMachines(): Promise<MachineState[]>;
  logs(id: string, options?: LogOptions): AsyncIterable<string>;
  close(): Promise<void>;
}

/**
 * Runs a bridge removal, again while the bridge still has ports, for up to NETNS_TEARDOWN_MS. The kernel
 * tears a deleted network namespace down asynchronously (a work queue), so the host ends of the veths of
 * a machine stopped a moment ago can still hang on the bridge: seen as "VAN 4096 still has interfaces
 * attached" when the last machine of a VAN stops right before its network is removed, under load.
 */
async function whenDetached(remove: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + NETNS_TEARDOWN_MS;
  for (;;) {
    try {
      return await remove();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if ((code !== "VAN_IN_USE" && code !== "PUBLIC_NETWORK_IN_USE") || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const NETNS_TEARDOWN_MS = 5_000;

/** Namespaces, bridges, nft, mounts and runc need root; say so plainly rather than fail in one of them. */
function requireRoot(what: string): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new CollectiveError(
      "NOT_ROOT",
      `${what} needs root (network namespaces, bridges, nftables, mounts, runc)`,
      {
        hint: "run cui as root; 'cui doctor' lists everything else this host needs",
      },
    );
  }
}

export class LocalHostAgent implements HostAgent {
  constructor(
    private readonly driver: MachineDriver,
    private readonly network: NetworkPlumber & { readonly naming: HostNaming },
  ) {}

  async ensureNetworks(vnis: readonly number[], publicPool: PublicPool | undefined): Promise<void> {
    requireRoot("starting appliances");
    for (const vni of vnis) await this.network.ensureVan(vni);
    if (publicPool) {
      await checkPublicPool(publicPool, this.network.naming);
      await this.network.ensurePublicNetwork(publicPool);
    }
  }

  async removeNetworks(vnis: readonly number[], publicNetwork: boolean): Promise<void> {
    for (const vni of vnis) await whenDetached(() => this.network.removeVan(vni));
    if (publicNetwork) await whenDetached(() => this.network.removePublicNetwork());
  }

  async startMachine(request: StartMachineRequest): Promise<MachineState> {
    // A machine that runs is kept (adopted). One that is "restarting" is started now, in full: after a
    // reboot its container, namespace and mounts are gone and the driver's own restart cannot bring it
    // back (it needs the spec, which only a start carries).
    const running = await this.driver.inspect(request.spec.id);
    if (running?.status === "running") return running;
    const netns = await this.network.ensureNamespace(request.spec.id);
    for (const i of request.interfaces) {
      await this.network.attachInterface({
        network: i.network,
        netns,
        ifName: i.ifName,
        mac: i.mac,
        address: i.address,
        prefixLength: i.prefixLength,
        ...(i.defaultRoute ? { defaultRoute: i.defaultRoute } : {}),
      });
    }
    return this.driver.start({ ...request.spec, netnsPath: `/run/netns/${netns}` });
  }

  waitUntilReady(id: string, timeoutMs: number): Promise<MachineState> {
    return this.driver.waitUntilReady(id, { timeoutMs });
  }

  async stopMachine(id: string, timeoutSec?: number): Promise<void> {
    await this.driver.stop(id, timeoutSec === undefined ? {} : { timeoutSec });
    // Removing the namespace removes the veth ends inside it, and with them their host peers.
    await this.network.removeNamespace(namespaceName(this.network.naming, id));
  }

  inspectMachine(id: string): Promise<MachineState | undefined> {
    return this.driver.inspect(id);
  }

  async forgetMachine(id: string): Promise<void> {
    // Stopped already (its namespace is gone); remove() finds no files where they were and drops the record.
    await this.driver.remove(id);
  }

  reconfigureMachine(id: string, change: Reconfiguration): Promise<void> {
    return this.driver.reconfigure(id, change);
  }

  listMachines(): Promise<MachineState[]> {
    return this.driver.list();
  }

  logs(id: string, options?: LogOptions): AsyncIterable<string> {
    return this.driver.logs(id, options);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
