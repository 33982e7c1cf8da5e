/**
 * The host agent of the embedded daemon: the container driver and this host's network, in-process.
 * runc's state lives on tmpfs (/run), so a reboot forgets containers as the kernel does; it is keyed by
 * the state directory so that two utilities on one host (tests) never see each other's machines.
 * COLLECTIVE_NET_PREFIX gives such a second utility its own names for bridges, namespaces and nft tables.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ContainerDriver } from "../agent/container-driver.js";
import { LocalHostAgent } from "../agent/host-agent.js";
import { checkNaming, PRODUCTION_NAMING } from "../net/host-names.js";
import { HostNetwork } from "../net/host-network.js";
import type { StatePaths } from "./paths.js";

export async function createLocalAgent(paths: StatePaths): Promise<LocalHostAgent> {
  const key = createHash("sha256").update(paths.root).digest("hex").slice(0, 8);
  const prefix = process.env.COLLECTIVE_NET_PREFIX;
  const naming = prefix ? checkNaming({ prefix, table: `collective_${prefix}` }) : PRODUCTION_NAMING;
  const driver = new ContainerDriver({
    stateRoot: join(paths.root, "agent"),
    runcRoot: join("/run/collective", key, "runc"),
    cgroupParent: prefix ? `collective-${prefix}` : "collective",
  });
  // Adopt what an earlier daemon started: the driver watches only machines it has listed.
  await driver.list();
  return new LocalHostAgent(driver, new HostNetwork({ naming }));
}
