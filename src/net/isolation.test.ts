/**
 * The isolation policy with real traffic. A namespace plays the host (so the test never touches the
 * machine's own forwarding); appliances are namespaces attached through the plumber. Addresses: VAN 4096
 * is 10.16.0.0/24, VAN 4097 is 10.16.1.0/24, the public pool 10.15.255.0/24 (host .1), and the fake
 * host's own service address 198.51.100.1 (TEST-NET-2, on its loopback only).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exec, execJson } from "../sys/exec.js";
import { HostNetwork } from "./host-network.js";
import { formatIpv4 } from "./ipv4.js";
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
import { DEFAULT_PUBLIC_POOL } from "./public-pool.js";

const naming = randomNaming();
const host = `${naming.prefix}host`; // not "<prefix>-...": that would be an appliance namespace the plumber owns
const net = new HostNetwork({ naming, hostNetns: host });
const hostService = "198.51.100.1";

let a1: string;
let a2: string;
let b1: string;
let gw: string;

async function attach(
  netns: string,
  vni: number | "public",
  ifName: string,
  address: string,
  defaultRoute?: string,
) {
  await net.attachInterface({
    network: vni === "public" ? "public" : { vni },
    netns,
    ifName,
    mac: macForDottedAddress(address),
    address,
    prefixLength: 24,
    ...(defaultRoute ? { defaultRoute } : {}),
  });
}

async function bridgeMac(bridge: string): Promise<string> {
  const [link] = await execJson<{ address: string }[]>("ip", [
    "-n",
    host,
    "-j",
    "link",
    "show",
    "dev",
    bridge,
  ]);
  return link!.address;
}

/** A hostile appliance: sends everything for `target` straight to the host's side of its bridge. */
async function routeViaBridge(netns: string, target: string, bridge: string): Promise<void> {
  await exec("ip", ["-n", netns, "route", "replace", `${target}/32`, "dev", "ethernet0"]);
  await exec("ip", [
    "-n",
    netns,
    "neigh",
    "replace",
    target,
    "lladdr",
    await bridgeMac(bridge),
    "dev",
    "ethernet0",
  ]);
}

/** Whether a TCP connection from `client` to `address`:`port`, served by busybox nc in `server`, gets through. */
async function tcpReaches(client: string, server: string, address: string, port: number): Promise<boolean> {
  const listener = exec(
    "ip",
    [
      "netns",
      "exec",
      server,
      "busybox",
      "timeout",
      "4",
      "busybox",
      "nc",
      "-l",
      "-p",
      String(port),
      "-e",
      "echo",
      "hi",
    ],
    { okStatuses: [0, 1, 143] },
  ).catch(() => undefined); // killed by the timeout when nothing connected: the answer is then "no"

  let reply = "";
  for (let attempt = 0; attempt < 3 && reply === ""; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const result = await exec(
      "ip",
      ["netns", "exec", client, "busybox", "nc", "-w", "1", address, String(port)],
      {
        okStatuses: [0, 1],
      },
    );
    reply = result.stdout.trim();
  }
  await listener;
  return reply === "hi";
}

let before: HostSnapshot;

beforeAll(async () => {
  before = await snapshotMachine();
  await addNamespace(host);
  await exec("ip", ["-n", host, "addr", "add", `${hostService}/32`, "dev", "lo"]);
  a1 = await net.ensureNamespace("a1");
  a2 = await net.ensureNamespace("a2");
  b1 = await net.ensureNamespace("b1");
  gw = await net.ensureNamespace("gw");
  await net.ensureVan(4096);
  await net.ensureVan(4097);
  await net.ensurePublicNetwork(DEFAULT_PUBLIC_POOL);
  // The gateway of VAN 4096: 10.16.0.1 inside, 10.15.255.2 public; the VAN's defaultroute is the gateway.
  await attach(gw, 4096, "ethernet0", "10.16.0.1");
  await attach(gw, "public", "ethernet1", "10.15.255.2", "10.15.255.1");
  await attach(a1, 4096, "ethernet0", "10.16.0.2", "10.16.0.1");
  await attach(a2, 4096, "ethernet0", "10.16.0.3", "10.16.0.1");
  await attach(b1, 4097, "ethernet0", "10.16.1.2");
  // A misconfigured host that would route between everything: only the nft rules stand in the way.
  await exec("ip", ["netns", "exec", host, "busybox", "sysctl", "-w", "net.ipv4.ip_forward=1"]);
  await exec("ip", ["-n", host, "route", "add", "10.16.0.0/24", "dev", `${naming.prefix}b4096`]);
  await exec("ip", ["-n", host, "route", "add", "10.16.1.0/24", "dev", `${naming.prefix}b4097`]);
  await routeViaBridge(a1, "10.16.1.2", `${naming.prefix}b4096`);
  await routeViaBridge(b1, "10.16.0.2", `${naming.prefix}b4097`);
  await routeViaBridge(a1, hostService, `${naming.prefix}b4096`);
}, 60_000);

afterAll(async () => {
  await removeEverything(naming);
});

describe("isolation between VANs, appliances and the host", () => {
  it("lets components of one VAN reach each other", async () => {
    expect(await pings(a1, "10.16.0.3")).toBe(true);
    expect(await pings(a2, "10.16.0.1")).toBe(true);
  });

  it("without Collective's rules, the misconfigured host would route between VANs and to itself", async () => {
    await net.removeFirewall();
    try {
      expect(await pings(a1, "10.16.1.2")).toBe(true);
      expect(await pings(a1, hostService)).toBe(true);
      expect(await pings(host, "10.16.0.2")).toBe(true);
      expect(await tcpReaches(gw, host, "10.15.255.1", 9000)).toBe(true);
    } finally {
      await net.ensureVan(4096); // reloads the rules
    }
  });

  it("keeps two VANs on one host from reaching each other directly", async () => {
    expect(await pings(a1, "10.16.1.2")).toBe(false);
    expect(await pings(b1, "10.16.0.2")).toBe(false);
  });

  it("keeps appliances from reaching the host's own addresses", async () => {
    expect(await pings(a1, hostService)).toBe(false);
    // The gateway, on the public network, cannot open connections to the host either.
    expect(await pings(gw, "10.15.255.1")).toBe(false);
    expect(await tcpReaches(gw, host, "10.15.255.1", 9000)).toBe(false);
  });

  it("lets the host reach a gateway's public address", async () => {
    expect(await pings(host, "10.15.255.2")).toBe(true);
    // ...but no component behind it, and no VAN subnet, except through the gateway.
    expect(await pings(host, "10.16.0.2")).toBe(false);
  });

  it("lets a gateway forward from its public interface to a component inside its VAN", async () => {
    // The gateway's own rules, as a firewall appliance with CAP_NET_ADMIN would load them: DNAT port 8080
    // to the web server a1:80, and masquerade so that a1 answers through the gateway.
    await exec("ip", ["netns", "exec", gw, "busybox", "sysctl", "-w", "net.ipv4.ip_forward=1"]);
    const rules = [
      "table ip gateway {",
      "  chain prerouting {",
      "    type nat hook prerouting priority dstnat;",
      '    iifname "ethernet1" tcp dport 8080 dnat to 10.16.0.2:80',
      "  }",
      "  chain postrouting {",
      "    type nat hook postrouting priority srcnat;",
      '    oifname "ethernet0" masquerade',
      "  }",
      "}",
      "",
    ].join("\n");
    await exec("ip", ["netns", "exec", gw, "nft", "-f", "-"], { input: rules });
    const server = exec("ip", [
      "netns",
      "exec",
      a1,
      "busybox",
      "timeout",
      "10",
      "busybox",
      "nc",
      "-l",
      "-p",
      "80",
      "-e",
      "echo",
      "hello from a1",
    ]);
    let reply = "";
    for (let attempt = 0; attempt < 20 && reply === ""; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const result = await exec(
        "ip",
        ["netns", "exec", host, "busybox", "nc", "-w", "2", "10.15.255.2", "8080"],
        {
          okStatuses: [0, 1],
        },
      );
      reply = result.stdout.trim();
    }
    await server;
    expect(reply).toBe("hello from a1");
  });

  it("gives the gateway's public interface the pool's address and the host's as its route", async () => {
    const routes = await execJson<{ dst: string; gateway?: string }[]>("ip", [
      "-n",
      gw,
      "-j",
      "route",
      "show",
      "default",
    ]);
    expect(routes[0]?.gateway).toBe(formatIpv4(DEFAULT_PUBLIC_POOL.hostAddress));
  });

  it("takes everything down through the plumber, leaving the machine as it was", async () => {
    for (const ns of [a1, a2, b1]) await net.detachInterface(ns, "ethernet0");
    await expect(net.removePublicNetwork()).rejects.toMatchObject({ code: "PUBLIC_NETWORK_IN_USE" });
    await net.detachInterface(gw, "ethernet0");
    await net.detachInterface(gw, "ethernet1");
    await net.removeVan(4096);
    await net.removeVan(4097);
    await net.removePublicNetwork();
    for (const ns of [a1, a2, b1, gw]) await net.removeNamespace(ns);
    expect(await net.inspect()).toEqual({
      vans: [],
      veths: [],
      taps: [],
      vxlans: [],
      namespaces: [],
      nftTables: [],
    });
    await exec("ip", ["netns", "delete", host]);
    expect(await leftoversSince(before, naming)).toEqual({ links: [], namespaces: [], nftTables: [] });
  });
});
