/**
 * VAN networks: iproute2, then the features src/net/probe.ts tries for real in a throwaway network
 * namespace (it removes the namespace itself). Each feature is its own check, with the fix a Debian
 * admin would type.
 */
import type { NetworkFeature } from "../net/probe.js";
import { type Check, type CheckResult, firstLine, result, rootFirst, tryCommand } from "./check.js";
import type { DoctorContext } from "./context.js";

interface Feature {
  /** The probe's name for it. */
  readonly probe: string;
  readonly name: string;
  readonly required: boolean;
  readonly fix: string;
}

const features: readonly Feature[] = [
  {
    probe: "network namespaces",
    name: "network namespaces",
    required: true,
    fix: "a kernel with CONFIG_NET_NS",
  },
  { probe: "bridge", name: "bridges", required: true, fix: "modprobe bridge" },
  { probe: "veth", name: "veth pairs", required: true, fix: "modprobe veth" },
  { probe: "vxlan", name: "vxlan", required: true, fix: "modprobe vxlan" },
  // Taps only connect VM appliances.
  { probe: "tap", name: "tap devices", required: false, fix: "modprobe tun" },
  {
    probe: "nftables",
    name: "firewall rules",
    required: true,
    fix: "apt-get install nftables; modprobe nf_tables nf_conntrack (the VAN firewall uses the inet and bridge families)",
  },
];

export const networkCheck: Check = {
  name: "network",
  run: async (ctx) => {
    const ip = await tryCommand(ctx, ctx.commands.ip, ["-V"]);
    if (ip.kind !== "ok") {
      const status = ip.kind === "missing" ? "missing" : "broken";
      const notTried = features.map((f) =>
        result(f.name, f.required, status, `not tried: ${ip.message}`, "apt-get install iproute2"),
      );
      return [result("iproute2", true, status, ip.message, "apt-get install iproute2"), ...notTried];
    }
    const head = result("iproute2", true, "ok", firstLine(ip.result));
    let probed: NetworkFeature[];
    try {
      probed = await ctx.probeNetwork();
    } catch (error) {
      const detail = `the probe failed: ${(error as Error).message}`;
      return [
        head,
        ...features.map((f) => result(f.name, f.required, "broken", detail, rootFirst(ctx, f.fix))),
      ];
    }
    return [head, ...features.map((f) => fromProbe(ctx, f, probed))];
  },
};

function fromProbe(ctx: DoctorContext, feature: Feature, probed: readonly NetworkFeature[]): CheckResult {
  const found = probed.find((p) => p.feature === feature.probe);
  if (found === undefined) {
    // The probe stops after the namespace when it cannot make one.
    return result(
      feature.name,
      feature.required,
      "broken",
      "not tried: no network namespace",
      rootFirst(ctx, feature.fix),
    );
  }
  if (found.ok) return result(feature.name, feature.required, "ok", "works in a throwaway network namespace");
  return result(
    feature.name,
    feature.required,
    "broken",
    found.detail ?? "failed",
    rootFirst(ctx, feature.fix),
  );
}
