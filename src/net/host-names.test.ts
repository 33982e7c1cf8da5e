import { describe, expect, it } from "vitest";
import {
  bridgeName,
  checkNaming,
  hostVethName,
  isOwnedNamespace,
  namespaceName,
  PRODUCTION_NAMING,
  parseOwnedLinkName,
  publicBridgeName,
  vxlanName,
} from "./host-names.js";
import { KeyedLock } from "./keyed-lock.js";

describe("names of host objects", () => {
  const naming = PRODUCTION_NAMING;

  it("names bridges, VXLAN devices, veths and namespaces with the prefix and a kind letter", () => {
    expect(bridgeName(naming, 4096)).toBe("cvb4096");
    expect(vxlanName(naming, 4096)).toBe("cvx4096");
    expect(publicBridgeName(naming)).toBe("cvpub");
    expect(hostVethName(naming, "cv-web", "ethernet0", "van")).toMatch(/^cvv[0-9a-f]{8}$/);
    expect(hostVethName(naming, "cv-web", "ethernet0", "public")).toMatch(/^cve[0-9a-f]{8}$/);
    expect(hostVethName(naming, "cv-web", "ethernet0", "van")).toBe(
      hostVethName(naming, "cv-web", "ethernet0", "van"),
    );
    expect(hostVethName(naming, "cv-web", "ethernet1", "van")).not.toBe(
      hostVethName(naming, "cv-web", "ethernet0", "van"),
    );
    expect(namespaceName(naming, "acme.web")).toBe("cv-acme.web");
  });

  it("fits every link name in 15 bytes with the longest prefix", () => {
    const long = checkNaming({ prefix: "cvtabc", table: "cvtabc" });
    for (const name of [
      bridgeName(long, 65535),
      vxlanName(long, 65535),
      hostVethName(long, "x", "ethernet9", "van"),
    ]) {
      expect(name.length).toBeLessThanOrEqual(15);
    }
    expect(() => checkNaming({ prefix: "cvtabcd", table: "t" })).toThrow(/prefix/);
    expect(() => checkNaming({ prefix: "cv", table: "bad-name" })).toThrow(/table/);
  });

  it("recognises its own names and nothing else", () => {
    expect(parseOwnedLinkName(naming, "cvb4096")).toEqual({ kind: "van-bridge", vni: 4096 });
    expect(parseOwnedLinkName(naming, "cvx17")).toEqual({ kind: "vxlan", vni: 17 });
    expect(parseOwnedLinkName(naming, "cvpub")).toEqual({ kind: "public-bridge" });
    expect(parseOwnedLinkName(naming, "cvv0123abcd")).toEqual({ kind: "veth", side: "van" });
    expect(parseOwnedLinkName(naming, "cve0123abcd")).toEqual({ kind: "veth", side: "public" });
    for (const other of ["eth0", "cvb0", "cvb70000", "cvtab1b4096", "cvvxyz", "docker0", "cvb04096"]) {
      expect(parseOwnedLinkName(naming, other)).toBeUndefined();
    }
    expect(isOwnedNamespace(naming, "cv-web")).toBe(true);
    expect(isOwnedNamespace(naming, "cvtab1-web")).toBe(false);
  });
});

describe("KeyedLock", () => {
  it("runs operations on one key one at a time and different keys in parallel", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const step = (name: string, ms: number) => async () => {
      events.push(`${name} start`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      events.push(`${name} end`);
      if (name === "a1") throw new Error("a1 failed");
    };
    const a1 = lock.run("a", step("a1", 30)).catch((error: Error) => error.message);
    const a2 = lock.run("a", step("a2", 1));
    const b1 = lock.run("b", step("b1", 1));
    expect(await a1).toBe("a1 failed");
    await Promise.all([a2, b1]);
    expect(events.indexOf("a2 start")).toBeGreaterThan(events.indexOf("a1 end"));
    expect(events.indexOf("b1 end")).toBeLessThan(events.indexOf("a1 end"));
  });
});
