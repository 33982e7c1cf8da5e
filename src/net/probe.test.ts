import { describe, expect, it } from "vitest";
import { snapshotMachine } from "./net-test-kit.js";
import { probeNetworkSupport } from "./probe.js";

describe("probeNetworkSupport", () => {
  it("finds every feature VAN networks need on this machine, and leaves nothing behind", async () => {
    const results = await probeNetworkSupport();
    expect(results.map((r) => r.feature)).toEqual([
      "network namespaces",
      "bridge",
      "veth",
      "vxlan",
      "tap",
      "nftables",
    ]);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const after = await snapshotMachine();
    expect(after.namespaces.filter((name) => name.startsWith("cvprobe"))).toEqual([]);
  });
});
