/**
 * The generated nft script: nft itself checks it (in a throwaway namespace) and we read the loaded rules
 * back with `nft -j`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exec, execJson } from "../sys/exec.js";
import { firewallScript } from "./firewall-rules.js";
import {
  addNamespace,
  type HostSnapshot,
  leftoversSince,
  randomNaming,
  removeEverything,
  snapshotMachine,
} from "./net-test-kit.js";

const naming = randomNaming();
const scratch = `${naming.prefix}fw`;
let before: HostSnapshot;

beforeAll(async () => {
  before = await snapshotMachine();
  await addNamespace(scratch);
});

afterAll(async () => {
  await removeEverything(naming);
});

interface NftJson {
  nftables: {
    chain?: { name: string; hook?: string; family: string };
    set?: { name: string; elem?: unknown[] };
  }[];
}

describe("firewallScript", () => {
  it("names only the run's own objects", () => {
    const script = firewallScript({ naming, bridges: [`${naming.prefix}b4096`] });
    const quoted = [...script.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
    expect(quoted.length).toBeGreaterThan(0);
    for (const name of quoted) expect(name.startsWith(naming.prefix)).toBe(true);
  });

  it("loads, replaces itself atomically, and reads back as intended", async () => {
    const nft = (args: string[], input?: string) =>
      exec("ip", ["netns", "exec", scratch, "nft", ...args], input === undefined ? {} : { input });
    const one = firewallScript({ naming, bridges: [`${naming.prefix}b4096`] });
    await nft(["-c", "-f", "-"], one);
    await nft(["-f", "-"], one);
    const two = firewallScript({ naming, bridges: [`${naming.prefix}b4096`, `${naming.prefix}pub`] });
    await nft(["-f", "-"], two);
    await nft(["-f", "-"], two);
    const inet = await execJson<NftJson>("ip", [
      "netns",
      "exec",
      scratch,
      "nft",
      "-j",
      "list",
      "table",
      "inet",
      naming.table,
    ]);
    const chains = inet.nftables.flatMap((e) => (e.chain ? [`${e.chain.name}:${e.chain.hook}`] : []));
    expect(chains.sort()).toEqual(["forward:forward", "input:input"]);
    const set = inet.nftables.find((e) => e.set?.name === "same_bridge")?.set;
    expect(set?.elem).toHaveLength(2);
    const bridge = await execJson<NftJson>("ip", [
      "netns",
      "exec",
      scratch,
      "nft",
      "-j",
      "list",
      "table",
      "bridge",
      naming.table,
    ]);
    expect(bridge.nftables.flatMap((e) => (e.chain ? [e.chain.hook] : []))).toEqual(["input"]);
    const empty = firewallScript({ naming, bridges: [] });
    await nft(["-c", "-f", "-"], empty);
  });

  it("leaves the machine's links, namespaces and nft tables as they were", async () => {
    await exec("ip", ["netns", "delete", scratch]);
    expect(await leftoversSince(before, naming)).toEqual({ links: [], namespaces: [], nftTables: [] });
  });
});
