/**
 * One VAN across two hosts: two namespaces play the hosts, joined by a veth that stands for the physical
 * network (private addresses 192.168.77.1 and .2 that exist only inside those namespaces). Each host runs
 * one component of VAN 4100 (10.16.4.0/24); VXLAN carries their Ethernet between the hosts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exec } from "../sys/exec.js";
import { HostNetwork } from "./host-network.js";
import { macForDottedAddress } from "./mac.js";
import {
  addNamespace,
  type HostSnapshot,
  leftoversSince,
  pings,
  randomNaming,
  removeEverything,
  snapshotMachine,
  succeedsIn,
} from "./net-test-kit.js";
import { NOTHING_EXPECTED } from "./plumber.js";

const naming = randomNaming();
const host1 = `${naming.prefix}h1`;
const host2 = `${naming.prefix}h2`;
const net1 = new HostNetwork({ naming, hostNetns: host1 });
const net2 = new HostNetwork({ naming, hostNetns: host2 });
const vni = 4100;
let before: HostSnapshot;
let app1: string;
let app2: string;

function component(net: HostNetwork, netns: string, address: string) {
  return net.attachInterface({
    network: { vni },
    netns,
    ifName: "ethernet0",
    mac: macForDottedAddress(address),
    address,
    prefixLength: 24,
  });
}

beforeAll(async () => {
  before = await snapshotMachine();
  await addNamespace(host1);
  await addNamespace(host2);
  const wire = `${naming.prefix}w`;
  await exec("ip", ["-n", host1, "link", "add", wire, "type", "veth", "peer", "name", wire, "netns", host2]);
  await exec("ip", ["-n", host1, "addr", "add", "192.168.77.1/24", "dev", wire]);
  await exec("ip", ["-n", host2, "addr", "add", "192.168.77.2/24", "dev", wire]);
  await exec("ip", ["-n", host1, "link", "set", wire, "up"]);
  await exec("ip", ["-n", host2, "link", "set", wire, "up"]);
  // Both "hosts" share the machine's namespace list, so their appliance namespaces need distinct ids.
  app1 = await net1.ensureNamespace("on-h1");
  app2 = await net2.ensureNamespace("on-h2");
  await net1.ensureVan(vni);
  await net2.ensureVan(vni);
  await component(net1, app1, "10.16.4.2");
  await component(net2, app2, "10.16.4.3");
});

afterAll(async () => {
  await removeEverything(naming);
});

describe("VXLAN between hosts", () => {
  it("does not connect the two halves of the VAN before the tunnel exists", async () => {
    expect(await pings(app1, "10.16.4.3")).toBe(false);
  });

  it("carries the VAN between two hosts once both have the tunnel", async () => {
    await net1.ensureVxlan(vni, "192.168.77.1", ["192.168.77.2"]);
    await net2.ensureVxlan(vni, "192.168.77.2", ["192.168.77.1"]);
    await net2.ensureVxlan(vni, "192.168.77.2", ["192.168.77.1"]);
    expect(await pings(app1, "10.16.4.3")).toBe(true);
    expect(await pings(app2, "10.16.4.2")).toBe(true);
    // Full-size frames fit: the appliance MTU leaves room for VXLAN's 50 bytes.
    const fullSize = ["-c1", "-W1", "-q", "-M", "do", "-s", "1422", "10.16.4.3"]; // 1422 + 28 = 1450
    expect(await succeedsIn(app1, "ping", fullSize)).toBe(true);
  });

  it("reports the tunnel and reconciles its remote hosts", async () => {
    const [vxlan] = (await net1.inspect()).vxlans;
    expect(vxlan).toEqual({
      name: `${naming.prefix}x${vni}`,
      vni,
      bridge: `${naming.prefix}b${vni}`,
      local: "192.168.77.1",
      remotes: ["192.168.77.2"],
    });
    await net1.ensureVxlan(vni, "192.168.77.1", ["192.168.77.2", "192.168.77.9"]);
    expect([...((await net1.inspect()).vxlans[0]?.remotes ?? [])].sort()).toEqual([
      "192.168.77.2",
      "192.168.77.9",
    ]);
    await net1.ensureVxlan(vni, "192.168.77.1", ["192.168.77.2"]);
    expect((await net1.inspect()).vxlans[0]?.remotes).toEqual(["192.168.77.2"]);
  });

  it("removes the VAN with its tunnel once the components are gone", async () => {
    await net1.detachInterface(app1, "ethernet0");
    await net1.removeVan(vni);
    expect(await net1.inspect()).toMatchObject({ vans: [], vxlans: [], nftTables: [] });
    await net2.sweep(NOTHING_EXPECTED);
    await net1.sweep(NOTHING_EXPECTED);
    expect(await net2.inspect()).toEqual({
      vans: [],
      veths: [],
      taps: [],
      vxlans: [],
      namespaces: [],
      nftTables: [],
    });
  });

  it("leaves the machine's links, namespaces and nft tables as they were", async () => {
    await exec("ip", ["netns", "delete", host1]);
    await exec("ip", ["netns", "delete", host2]);
    expect(await leftoversSince(before, naming)).toEqual({ links: [], namespaces: [], nftTables: [] });
  });
});
