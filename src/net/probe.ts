/**
 * Can this host run VAN networks? Tries each kernel feature for real inside a throwaway namespace (so the
 * host's own network is never touched) and says what is missing and how to get it: for `cui doctor`.
 */
import { randomBytes } from "node:crypto";
import { exec } from "../sys/exec.js";
import { firewallScript } from "./firewall-rules.js";

export interface NetworkFeature {
  readonly feature: string;
  readonly ok: boolean;
  /** Why it failed (the command's error), when it did. */
  readonly detail?: string;
  /** What to do about it. */
  readonly fix?: string;
}

type Step = { feature: string; fix: string; run: (ns: string) => Promise<unknown> };

const steps: readonly Step[] = [
  {
    feature: "bridge",
    fix: "a kernel with CONFIG_BRIDGE",
    run: (ns) => exec("ip", ["-n", ns, "link", "add", "cvpb", "type", "bridge"]),
  },
  {
    feature: "veth",
    fix: "a kernel with CONFIG_VETH",
    run: (ns) => exec("ip", ["-n", ns, "link", "add", "cvpv", "type", "veth", "peer", "name", "cvpw"]),
  },
  {
    feature: "vxlan",
    fix: "a kernel with CONFIG_VXLAN",
    run: (ns) =>
      exec("ip", ["-n", ns, "link", "add", "cvpx", "type", "vxlan", "id", "42", "dstport", "4789"]),
  },
  {
    feature: "tap",
    fix: "a kernel with CONFIG_TUN (/dev/net/tun)",
    run: (ns) => exec("ip", ["-n", ns, "tuntap", "add", "dev", "cvpt", "mode", "tap"]),
  },
  {
    feature: "nftables",
    fix: "apt-get install nftables, and a kernel with nf_tables, its inet and bridge families and conntrack",
    run: (ns) =>
      exec("ip", ["netns", "exec", ns, "nft", "-f", "-"], {
        input: firewallScript({ naming: { prefix: "cvp", table: "cvprobe" }, bridges: ["cvpb"] }),
      }),
  },
];

export async function probeNetworkSupport(): Promise<NetworkFeature[]> {
  const ns = `cvprobe${randomBytes(4).toString("hex")}`;
  try {
    await exec("ip", ["netns", "add", ns]);
  } catch (error) {
    const fix = "run as root, with iproute2 installed and network namespaces in the kernel (CONFIG_NET_NS)";
    return [{ feature: "network namespaces", ok: false, detail: (error as Error).message, fix }];
  }
  const results: NetworkFeature[] = [{ feature: "network namespaces", ok: true }];
  try {
    for (const step of steps) {
      try {
        await step.run(ns);
        results.push({ feature: step.feature, ok: true });
      } catch (error) {
        results.push({ feature: step.feature, ok: false, detail: (error as Error).message, fix: step.fix });
      }
    }
  } finally {
    await exec("ip", ["netns", "delete", ns]);
  }
  return results;
}
