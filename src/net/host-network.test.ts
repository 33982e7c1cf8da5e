/**
 * The plumber against the real kernel: bridges, veths, namespaces and nft tables, in a namespace that plays
 * the host, plus one run in the machine's own root namespace. Every name carries a random per-run prefix.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execJson } from "../sys/exec.js";
import { hostVethName } from "./host-names.js";
import { HostNetwork } from "./host-network.js";
import type { IpAddress, IpLink } from "./link-state.js";
import { macForDottedAddress } from "./mac.js";
import {
  addNamespace,
  type HostSnapshot,
  leftoversSince,
  pings,
  randomNaming,
  removeEverything,
  snapshotMachine,
} from "./net-test-kit.js";
import { NOTHING_EXPECTED } from "./plumber.js";
import { parsePublicPool } from "./public-pool.js";

const naming = randomNaming();
const host = `${naming.prefix}host`; // not "<prefix>-...": that would be an appliance namespace the plumber owns
const net = new HostNetwork({ naming, hostNetns: host });
let before: HostSnapshot;

function spec(netns: string, vni: number, address: string, defaultRoute?: string) {
  return {
    network: { vni },
    netns,
    ifName: "ethernet0",
    mac: macForDottedAddress(address),
    address,
    prefixLength: 24,
    ...(defaultRoute ? { defaultRoute } : {}),
  };
}

async function linkIn(netns: string, name: string): Promise<IpLink & IpAddress> {
  const [link] = await execJson<(IpLink & IpAddress)[]>("ip", [
    "-n",
    netns,
    "-j",
    "-d",
    "addr",
    "show",
    "dev",
    name,
  ]);
  return link!;
}

beforeAll(async () => {
  before = await snapshotMachine();
  await addNamespace(host);
});

afterAll(async () => {
  await removeEverything(naming);
});

describe("HostNetwork", () => {
  it("creates a VAN bridge without any host address, and the nft tables, idempotently", async () => {
    await net.ensureVan(4200);
    await net.ensureVan(4200);
    const bridge = await linkIn(host, `${naming.prefix}b4200`);
    expect(bridge.linkinfo?.info_kind).toBe("bridge");
    expect(bridge.addr_info).toEqual([]);
    expect(bridge.ifalias).toBe("collective van 4200");
    const state = await net.inspect();
    expect(state.vans).toEqual([{ name: `${naming.prefix}b4200`, vni: 4200, ports: [] }]);
    expect(state.nftTables.map((t) => `${t.family} ${t.name}`).sort()).toEqual([
      `bridge ${naming.table}`,
      `inet ${naming.table}`,
    ]);
  });

  it("attaches an interface: name, MAC, address, MTU, default route, and the host end on the bridge", async () => {
    const ns = await net.ensureNamespace("web");
    expect(ns).toBe(`${naming.prefix}-web`);
    const attached = await net.attachInterface(spec(ns, 4200, "10.16.104.2", "10.16.104.1"));
    expect(attached).toEqual({
      hostEnd: hostVethName(naming, ns, "ethernet0", "van"),
      bridge: `${naming.prefix}b4200`,
    });
    const inside = await linkIn(ns, "ethernet0");
    expect(inside.address).toBe("02:c0:0a:10:68:02");
    expect(inside.mtu).toBe(1450);
    expect(
      inside.addr_info?.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
    ).toEqual(["10.16.104.2/24"]);
    const routes = await execJson<{ gateway?: string; dev: string }[]>("ip", [
      "-n",
      ns,
      "-j",
      "route",
      "show",
      "default",
    ]);
    expect(routes).toMatchObject([{ gateway: "10.16.104.1", dev: "ethernet0" }]);
    const hostEnd = await linkIn(host, attached.hostEnd);
    expect(hostEnd.master).toBe(`${naming.prefix}b4200`);
    expect(hostEnd.addr_info).toEqual([]);
  });

  it("changes nothing when attaching the same interface again, and converges to a changed address", async () => {
    const ns = `${naming.prefix}-web`;
    const first = await linkIn(ns, "ethernet0");
    await net.attachInterface(spec(ns, 4200, "10.16.104.2", "10.16.104.1"));
    expect((await linkIn(ns, "ethernet0")).ifindex).toBe(first.ifindex);
    await net.attachInterface(spec(ns, 4200, "10.16.104.7"));
    const changed = await linkIn(ns, "ethernet0");
    expect(changed.ifindex).toBe(first.ifindex);
    expect(changed.address).toBe("02:c0:0a:10:68:07");
    expect(changed.addr_info?.filter((a) => a.family === "inet").map((a) => a.local)).toEqual([
      "10.16.104.7",
    ]);
  });

  it("rebuilds a half-made pair left by a crash", async () => {
    const ns = `${naming.prefix}-web`;
    const hostEnd = hostVethName(naming, ns, "ethernet0", "van");
    await execJson("ip", ["-n", host, "link", "set", "dev", hostEnd, "nomaster"]);
    await execJson("ip", ["-n", ns, "link", "delete", "dev", "ethernet0"]);
    await net.attachInterface(spec(ns, 4200, "10.16.104.7"));
    expect((await linkIn(host, hostEnd)).master).toBe(`${naming.prefix}b4200`);
    const db = await net.ensureNamespace("db");
    await net.attachInterface(spec(db, 4200, "10.16.104.8"));
    expect(await pings(db, "10.16.104.7")).toBe(true);
  });

  it("refuses to attach to a VAN that does not exist, or from a namespace that does not exist", async () => {
    await expect(
      net.attachInterface(spec(`${naming.prefix}-web`, 4999, "10.19.135.2")),
    ).rejects.toMatchObject({
      code: "VAN_NOT_READY",
    });
    await expect(
      net.attachInterface(spec(`${naming.prefix}-nope`, 4200, "10.16.104.9")),
    ).rejects.toMatchObject({
      code: "NAMESPACE_NOT_FOUND",
    });
  });

  it("rejects names and values that must never reach ip", async () => {
    await expect(
      net.attachInterface({ ...spec(`${naming.prefix}-web`, 4200, "10.16.104.2"), ifName: "eth0; reboot" }),
    ).rejects.toMatchObject({ code: "BAD_NAME" });
    await expect(
      net.attachInterface({ ...spec(`${naming.prefix}-web`, 4200, "10.16.104.2"), mac: "01:00:5e:00:00:01" }),
    ).rejects.toMatchObject({ code: "BAD_MAC" });
    await expect(
      net.attachInterface({ ...spec(`${naming.prefix}-web`, 4200, "10.16.104.2"), address: "10.16.104.256" }),
    ).rejects.toMatchObject({ code: "BAD_ADDRESS" });
    await expect(net.ensureVan(70000)).rejects.toMatchObject({ code: "BAD_VNI" });
    await expect(net.ensureNamespace("../etc")).rejects.toMatchObject({ code: "BAD_NAME" });
    await expect(net.removeNamespace(host)).rejects.toMatchObject({ code: "NOT_OURS" });
  });

  it("refuses to remove a VAN while an interface is attached, then removes it and its rules", async () => {
    await expect(net.removeVan(4200)).rejects.toMatchObject({ code: "VAN_IN_USE" });
    await net.detachInterface(`${naming.prefix}-web`, "ethernet0");
    await net.detachInterface(`${naming.prefix}-web`, "ethernet0");
    await net.detachInterface(`${naming.prefix}-db`, "ethernet0");
    await net.removeVan(4200);
    await net.removeVan(4200);
    const state = await net.inspect();
    expect(state.vans).toEqual([]);
    expect(state.veths).toEqual([]);
    expect(state.nftTables).toEqual([]);
    await net.removeNamespace(`${naming.prefix}-web`);
    await net.removeNamespace(`${naming.prefix}-db`);
    expect((await net.inspect()).namespaces).toEqual([]);
  });

  it("inspects what it owns and sweeps what is not expected", async () => {
    const keep = await net.ensureNamespace("keep");
    const stale = await net.ensureNamespace("stale");
    await net.ensureVan(4201);
    await net.ensureVan(4202);
    await net.ensurePublicNetwork(parsePublicPool("10.255.255.0/24"));
    await net.attachInterface(spec(keep, 4201, "10.16.105.2"));
    await net.attachInterface(spec(stale, 4202, "10.16.106.2"));
    const keepTap = await net.attachTap({
      network: { vni: 4201 },
      owner: "vm-keep",
      ifName: "ethernet0",
    });
    const staleTap = await net.attachTap({
      network: "public",
      owner: "vm-stale",
      ifName: "ethernet1",
    });
    expect(await net.attachTap({ network: { vni: 4201 }, owner: "vm-keep", ifName: "ethernet0" })).toBe(
      keepTap,
    );
    const state = await net.inspect();
    expect(state.taps).toContainEqual({
      name: keepTap,
      side: "van",
      bridge: `${naming.prefix}b4201`,
      owner: "vm-keep",
      ifName: "ethernet0",
    });
    expect(state.taps.find((tap) => tap.name === staleTap)).toMatchObject({
      side: "public",
      bridge: `${naming.prefix}pub`,
    });
    expect(state.vans.map((v) => v.vni).sort()).toEqual([4201, 4202]);
    expect(state.publicBridge?.name).toBe(`${naming.prefix}pub`);
    expect(state.veths).toContainEqual({
      hostEnd: hostVethName(naming, keep, "ethernet0", "van"),
      side: "van",
      bridge: `${naming.prefix}b4201`,
      netns: keep,
      ifName: "ethernet0",
    });
    expect(state.namespaces).toEqual([keep, stale].sort());

    const report = await net.sweep({
      vnis: [4201],
      publicNetwork: false,
      vxlans: [],
      interfaces: [{ netns: keep, ifName: "ethernet0" }],
      taps: [{ owner: "vm-keep", ifName: "ethernet0" }],
      namespaces: [keep],
    });
    expect(report.removed).toEqual(
      expect.arrayContaining([
        `link ${hostVethName(naming, stale, "ethernet0", "van")}`,
        `link ${naming.prefix}b4202`,
        `link ${naming.prefix}pub`,
        `netns ${stale}`,
        `link ${staleTap}`,
      ]),
    );
    const after = await net.inspect();
    expect(after.vans.map((v) => v.vni)).toEqual([4201]);
    expect(after.publicBridge).toBeUndefined();
    expect(after.veths.map((v) => v.netns)).toEqual([keep]);
    expect(after.taps.map((t) => t.name)).toEqual([keepTap]);
    expect(after.namespaces).toEqual([keep]);
    expect(after.nftTables).toHaveLength(2);

    const all = await net.sweep(NOTHING_EXPECTED);
    expect(all.removed).toContain(`nft inet ${naming.table}`);
    expect(await net.inspect()).toEqual({
      vans: [],
      veths: [],
      taps: [],
      vxlans: [],
      namespaces: [],
      nftTables: [],
    });
  });

  it("brings up several VANs and interfaces at once, keeping every bridge in the rules", async () => {
    const vnis = [4210, 4211, 4212, 4213];
    await Promise.all(vnis.map((vni) => net.ensureVan(vni)));
    const namespaces = await Promise.all(vnis.map((vni) => net.ensureNamespace(`c${vni}`)));
    await Promise.all(
      vnis.flatMap((vni, i) => [
        net.attachInterface(spec(namespaces[i]!, vni, `10.16.${vni & 255}.2`)),
        net.attachInterface({ ...spec(namespaces[i]!, vni, `10.16.${vni & 255}.3`), ifName: "ethernet1" }),
      ]),
    );
    const set = await execJson<{ nftables: { set?: { elem?: { concat: string[] }[] } }[] }>("ip", [
      ...["netns", "exec", host, "nft", "-j", "list", "set", "inet", naming.table, "same_bridge"],
    ]);
    const members = set.nftables.flatMap((e) => e.set?.elem ?? []).map((e) => e.concat[0]);
    for (const vni of vnis) expect(members).toContain(`${naming.prefix}b${vni}`);
    for (const ns of namespaces) expect(await pings(ns, "10.16.0.1")).toBe(false);
    expect(await pings(namespaces[0]!, `10.16.${4210 & 255}.3`)).toBe(true);
    await net.sweep(NOTHING_EXPECTED);
  });

  it("works the same in the machine's own root namespace", async () => {
    const root = new HostNetwork({ naming });
    const x = await root.ensureNamespace("rx");
    const y = await root.ensureNamespace("ry");
    await root.ensureVan(4203);
    await root.attachInterface(spec(x, 4203, "10.16.107.2"));
    await root.attachInterface(spec(y, 4203, "10.16.107.3"));
    expect(await pings(x, "10.16.107.3")).toBe(true);
    const tables = await execJson<{ nftables: { table?: { family: string; name: string } }[] }>("nft", [
      "-j",
      "list",
      "table",
      "inet",
      naming.table,
    ]);
    expect(tables.nftables.some((entry) => entry.table?.name === naming.table)).toBe(true);
    const state = await root.inspect();
    expect(state.vans.map((v) => v.name)).toEqual([`${naming.prefix}b4203`]);
    expect(state.veths).toHaveLength(2);
    await root.sweep(NOTHING_EXPECTED);
    expect(await root.inspect()).toEqual({
      vans: [],
      veths: [],
      taps: [],
      vxlans: [],
      namespaces: [],
      nftTables: [],
    });
  });

  it("leaves the machine's links, namespaces and nft tables as they were", async () => {
    await execJson("ip", ["netns", "delete", host]);
    expect(await leftoversSince(before, naming)).toEqual({ links: [], namespaces: [], nftTables: [] });
  });
});
