import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocateAddress, usableAddresses } from "./address-allocator.js";
import {
  blockContains,
  blocksOverlap,
  formatIpv4,
  formatIpv4Block,
  netmaskOf,
  parseIpv4,
  parseIpv4Block,
} from "./ipv4.js";
import { checkMac, macForAddress, macForDottedAddress } from "./mac.js";
import { allocatePublicAddress, DEFAULT_PUBLIC_POOL, parsePublicPool } from "./public-pool.js";
import {
  checkVniPoolAvoids,
  DEFAULT_VNI_POOL,
  nextFreeVni,
  parseVniPool,
  vanAddress,
  vanSubnet,
} from "./van-subnet.js";

describe("IPv4 parsing", () => {
  it("round-trips dotted addresses and blocks", () => {
    expect(formatIpv4(parseIpv4("10.16.0.2"))).toBe("10.16.0.2");
    expect(parseIpv4("255.255.255.255")).toBe(0xffffffff);
    expect(formatIpv4Block(parseIpv4Block("10.255.255.0/24"))).toBe("10.255.255.0/24");
    expect(netmaskOf(24)).toBe("255.255.255.0");
  });

  it("refuses anything that is not a plain dotted quad or a clean block", () => {
    for (const bad of ["10.0.0", "10.0.0.256", "010.0.0.1", " 10.0.0.1", "10.0.0.1; rm", "1e1.0.0.1", ""]) {
      expect(() => parseIpv4(bad)).toThrow(/not a dotted IPv4 address/);
    }
    expect(() => parseIpv4Block("10.0.0.1/24")).toThrow(/host bits set/);
    expect(() => parseIpv4Block("10.0.0.0/33")).toThrow(/CIDR/);
    expect(() => parseIpv4Block("10.0.0.0")).toThrow(/CIDR/);
  });

  it("knows containment and overlap", () => {
    const a = parseIpv4Block("10.16.0.0/16");
    expect(blockContains(a, parseIpv4("10.16.200.1"))).toBe(true);
    expect(blockContains(a, parseIpv4("10.17.0.1"))).toBe(false);
    expect(blocksOverlap(a, parseIpv4Block("10.16.4.0/24"))).toBe(true);
    expect(blocksOverlap(a, parseIpv4Block("10.255.255.0/24"))).toBe(false);
  });
});

describe("VAN subnets from network ids (paper 5.1.1)", () => {
  it("derives 10.x.y.0/24 with x = vni >> 8 and y = vni & 255", () => {
    expect(formatIpv4Block(vanSubnet(4096))).toBe("10.16.0.0/24");
    expect(formatIpv4Block(vanSubnet(4100))).toBe("10.16.4.0/24");
    expect(formatIpv4Block(vanSubnet(8191))).toBe("10.31.255.0/24");
    expect(formatIpv4Block(vanSubnet(65535))).toBe("10.255.255.0/24");
    expect(formatIpv4(vanAddress(4096, 1))).toBe("10.16.0.1");
  });

  it("gives distinct network ids disjoint subnets", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), (a, b) => {
        fc.pre(a !== b);
        return !blocksOverlap(vanSubnet(a), vanSubnet(b));
      }),
    );
  });

  it("refuses network ids outside 1-65535, where the 16-bit mapping would alias", () => {
    for (const bad of [0, -1, 65536, 1.5, 16_777_215]) expect(() => vanSubnet(bad)).toThrow(/network id/);
    expect(() => vanAddress(4096, 0)).toThrow(/1-254/);
    expect(() => vanAddress(4096, 255)).toThrow(/1-254/);
  });

  it("parses pools, allocates the lowest free id, and refuses pools that overlap the public pool", () => {
    expect(parseVniPool("4096-8191")).toEqual(DEFAULT_VNI_POOL);
    expect(parseVniPool("4100")).toEqual({ first: 4100, last: 4100 });
    expect(() => parseVniPool("8191-4096")).toThrow(/ends before/);
    expect(() => parseVniPool("1-70000")).toThrow(/network id/);
    expect(nextFreeVni({ first: 10, last: 12 }, new Set([10, 11]))).toBe(12);
    expect(nextFreeVni({ first: 10, last: 11 }, new Set([10, 11]))).toBeUndefined();
    expect(() =>
      checkVniPoolAvoids(DEFAULT_VNI_POOL, DEFAULT_PUBLIC_POOL.block, "public pool"),
    ).not.toThrow();
    expect(() =>
      checkVniPoolAvoids({ first: 4000, last: 4100 }, DEFAULT_PUBLIC_POOL.block, "public pool"),
    ).toThrow(/4095 .* 10\.15\.255\.0\/24/);
  });
});

describe("address allocation", () => {
  it("never hands out a VAN's network or broadcast address", () => {
    const usable = usableAddresses(vanSubnet(4096)).map(formatIpv4);
    expect(usable).toHaveLength(254);
    expect(usable[0]).toBe("10.16.0.1");
    expect(usable.at(-1)).toBe("10.16.0.254");
  });

  it("takes the preferred address when free, else the lowest free one, and fails when full", () => {
    const block = vanSubnet(4096);
    const taken = new Set([vanAddress(4096, 1), vanAddress(4096, 2)]);
    expect(formatIpv4(allocateAddress(block, { taken, what: "VAN 4096" }))).toBe("10.16.0.3");
    const preferred = vanAddress(4096, 1);
    expect(formatIpv4(allocateAddress(block, { taken: new Set(), preferred, what: "VAN 4096" }))).toBe(
      "10.16.0.1",
    );
    expect(formatIpv4(allocateAddress(block, { taken, preferred, what: "VAN 4096" }))).toBe("10.16.0.3");
    expect(() =>
      allocateAddress(block, { taken: new Set(), preferred: block.network, what: "VAN 4096" }),
    ).toThrow(/not a usable address/);
    const full = new Set(usableAddresses(block));
    expect(() => allocateAddress(block, { taken: full, what: "VAN 4096" })).toThrow(
      /VAN 4096 .* no free address/,
    );
  });

  it("keeps the public pool's first address for the host", () => {
    expect(formatIpv4(DEFAULT_PUBLIC_POOL.hostAddress)).toBe("10.15.255.1");
    expect(formatIpv4(allocatePublicAddress(DEFAULT_PUBLIC_POOL, new Set()))).toBe("10.15.255.2");
    const small = parsePublicPool("192.168.50.0/29");
    const all = new Set([2, 3, 4, 5, 6].map((i) => small.block.network + i));
    expect(() => allocatePublicAddress(small, all)).toThrow(/public pool/);
    expect(() => parsePublicPool("10.0.0.0/8")).toThrow(/16 to \/29/);
  });
});

describe("MAC addresses", () => {
  it("derives a locally administered unicast MAC from the address", () => {
    expect(macForDottedAddress("10.16.0.2")).toBe("02:c0:0a:10:00:02");
    expect(checkMac(macForDottedAddress("10.255.255.254"))).toBe("02:c0:0a:ff:ff:fe");
  });

  it("gives distinct addresses distinct MACs", () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (a, b) => {
        fc.pre(a !== b);
        return macForAddress(a) !== macForAddress(b);
      }),
    );
  });

  it("refuses multicast, upper-case and malformed MACs", () => {
    for (const bad of ["01:00:5e:00:00:01", "02:C0:0A:10:00:02", "02:c0:0a:10:00", "02-c0-0a-10-00-02"]) {
      expect(() => checkMac(bad)).toThrow(/not a lower-case unicast MAC/);
    }
  });
});
