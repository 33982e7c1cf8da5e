/**
 * Allocation of network ids, addresses and MACs for an instance, persisted in the state database in one
 * transaction. Idempotent: allocating again for the same instance returns what it already holds (after a
 * crash, a restarted start gets the same addresses), and the database's UNIQUE constraints make handing
 * anything out twice impossible, even to two managers sharing one database.
 */
import type { Evaluation } from "../cvl/index.js";
import { display } from "../cvl/values.js";
import { CollectiveError } from "../errors.js";
import { allocateAddress } from "../net/address-allocator.js";
import { formatIpv4, netmaskOf, parseIpv4 } from "../net/ipv4.js";
import { macForAddress } from "../net/mac.js";
import {
  allocatePublicAddress,
  DEFAULT_PUBLIC_POOL,
  type PublicPool,
  parsePublicPool,
} from "../net/public-pool.js";
import { DEFAULT_VNI_POOL, nextFreeVni, parseVniPool, type VniPool, vanSubnet } from "../net/van-subnet.js";
import type { Db } from "../state/database.js";
import { type Attachment, interfacePath, planTopology, type Topology } from "./topology.js";

export interface InterfaceAllocation {
  /** "d.ethernet0" */
  readonly path: string;
  readonly component: string;
  readonly ifName: string;
  readonly network: "van" | "public";
  /** The VAN's network id, for VAN networks. */
  readonly vni: number | undefined;
  readonly ip: string;
  readonly mac: string;
  readonly subnet: string;
  readonly netmask: string;
  readonly prefixLength: number;
}

export interface Allocations {
  /** VAN path -> network id. */
  readonly networks: ReadonlyMap<string, number>;
  readonly interfaces: readonly InterfaceAllocation[];
  readonly topology: Topology;
  /** Values for the evaluation's pending placeholders, by parameter path ("d.ethernet0.ip"). */
  readonly values: ReadonlyMap<string, string>;
}

export function registeredPools(db: Db): { vni: VniPool; publicPool: PublicPool } {
  const rows = db.prepare("SELECT kind, spec FROM pools").all() as Array<{ kind: string; spec: string }>;
  const vni = rows.find((r) => r.kind === "vni");
  const pub = rows.find((r) => r.kind === "public");
  return {
    vni: vni ? parseVniPool(vni.spec) : DEFAULT_VNI_POOL,
    publicPool: pub ? parsePublicPool(pub.spec) : DEFAULT_PUBLIC_POOL,
  };
}

/** The interface that the VAN's defaultroute names gets the subnet's first address (.1), by convention. */
function preferredFirst(evaluation: Evaluation): Set<string> {
  const out = new Set<string>();
  for (const c of evaluation.components) {
    if (c.kind !== "van") continue;
    for (const s of c.params.get("defaultroute") ?? []) {
      const match = /^\$\{(.+)\.ip\}$/.exec(display(s));
      if (match) out.add(match[1]!);
    }
  }
  return out;
}

export function allocate(db: Db, instanceId: string, evaluation: Evaluation): Allocations {
  const topology = planTopology(evaluation);
  const { vni: vniPool, publicPool } = registeredPools(db);
  const first = preferredFirst(evaluation);
  const run = db.transaction((): Allocations => {
    const networks = new Map<string, number>();
    for (const row of db
      .prepare("SELECT path, vni FROM networks WHERE instance_id = ?")
      .all(instanceId) as Array<{
      path: string;
      vni: number;
    }>) {
      networks.set(row.path, row.vni);
    }
    const usedVnis = new Set(
      (db.prepare("SELECT vni FROM networks").all() as Array<{ vni: number }>).map((r) => r.vni),
    );
    const insertNetwork = db.prepare("INSERT INTO networks (instance_id, path, vni) VALUES (?, ?, ?)");
    for (const van of topology.vans) {
      if (networks.has(van)) continue;
      const vni = nextFreeVni(vniPool, usedVnis);
      if (vni === undefined) {
        throw new CollectiveError(
          "POOL_EXHAUSTED",
          `no free network id for VAN ${van || evaluation.appliance}: all ${vniPool.last - vniPool.first + 1} of pool ${vniPool.first}-${vniPool.last} are in use`,
          {
            hint: "stop a VAN you no longer need, or register a larger pool with 'cui pool add vni FIRST-LAST'",
          },
        );
      }
      insertNetwork.run(instanceId, van, vni);
      usedVnis.add(vni);
      networks.set(van, vni);
    }
    const existing = new Map<string, { ip: string; mac: string }>();
    for (const row of db
      .prepare("SELECT interface, network, ip, mac FROM addresses WHERE instance_id = ?")
      .all(instanceId) as Array<{ interface: string; network: string; ip: string; mac: string }>) {
      existing.set(`${row.network}:${row.interface}`, row);
    }
    const takenIn = db.prepare("SELECT ip FROM addresses WHERE network = ? AND vni IS ?");
    const insertAddress = db.prepare(
      "INSERT INTO addresses (instance_id, interface, network, vni, ip, mac) VALUES (?, ?, ?, ?, ?, ?)",
    );
    // Preferred interfaces first, so that they get .1 before anyone else takes it.
    const ordered = [...topology.attachments].sort(
      (a, b) =>
        Number(first.has(interfacePath(b.component, b.ifName))) -
        Number(first.has(interfacePath(a.component, a.ifName))),
    );
    const interfaces: InterfaceAllocation[] = [];
    for (const attachment of ordered) {
      interfaces.push(allocateInterface(attachment));
    }
    return { networks, interfaces, topology, values: placeholderValues(evaluation, networks, interfaces) };

    function allocateInterface(attachment: Attachment): InterfaceAllocation {
      const path = interfacePath(attachment.component, attachment.ifName);
      const network = attachment.network.kind;
      const vni = attachment.network.kind === "van" ? networks.get(attachment.network.van)! : null;
      const block = vni === null ? publicPool.block : vanSubnet(vni);
      let held = existing.get(`${network}:${path}`);
      if (!held) {
        const taken = new Set(
          (takenIn.all(network, vni) as Array<{ ip: string }>).map((r) => parseIpv4(r.ip)),
        );
        const address =
          vni === null
            ? allocatePublicAddress(publicPool, taken)
            : allocateAddress(block, {
                taken,
                ...(first.has(path) ? { preferred: block.network + 1 } : {}),
                what: `VAN ${attachment.network.kind === "van" ? attachment.network.van || evaluation.appliance : ""} (network id ${vni})`,
              });
        held = { ip: formatIpv4(address), mac: macForAddress(address) };
        insertAddress.run(instanceId, path, network, vni, held.ip, held.mac);
      }
      return {
        path,
        component: attachment.component,
        ifName: attachment.ifName,
        network,
        vni: vni ?? undefined,
        ip: held.ip,
        mac: held.mac,
        subnet: formatIpv4(block.network),
        netmask: netmaskOf(block.prefixLength),
        prefixLength: block.prefixLength,
      };
    }
  });
  return run.immediate();
}

function placeholderValues(
  evaluation: Evaluation,
  networks: ReadonlyMap<string, number>,
  interfaces: readonly InterfaceAllocation[],
): Map<string, string> {
  const values = new Map<string, string>();
  for (const i of interfaces) {
    values.set(`${i.path}.ip`, i.ip);
    values.set(`${i.path}.mac`, i.mac);
    values.set(`${i.path}.subnet`, i.subnet);
    values.set(`${i.path}.netmask`, i.netmask);
  }
  for (const c of evaluation.components) {
    if (c.kind !== "van") continue;
    const vni = networks.get(c.path);
    if (vni === undefined) continue;
    const block = vanSubnet(vni);
    const prefix = c.path === "" ? "" : `${c.path}.`;
    values.set(`${prefix}subnet`, formatIpv4(block.network));
    values.set(`${prefix}netmask`, netmaskOf(block.prefixLength));
  }
  return values;
}

/** Releases everything an instance holds (after it is stopped for good). */
export function release(db: Db, instanceId: string): void {
  db.transaction(() => {
    db.prepare("DELETE FROM addresses WHERE instance_id = ?").run(instanceId);
    db.prepare("DELETE FROM networks WHERE instance_id = ?").run(instanceId);
  }).immediate();
}
