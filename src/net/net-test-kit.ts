/**
 * Helpers for tests that create real namespaces, bridges and nft tables. Every object is named with a
 * random per-run prefix (cvt + 3 characters, see host-names.ts for the room left) and removed by
 * removeEverything(), which the tests call in afterAll even when a test fails.
 */
import { randomBytes } from "node:crypto";
import { exec, execJson } from "../sys/exec.js";
import type { HostNaming } from "./host-names.js";

export function randomNaming(): HostNaming {
  const tag = randomBytes(3).toString("hex").slice(0, 3);
  return { prefix: `cvt${tag}`, table: `cvt${tag}` };
}

/** Runs a command inside a namespace; the result says whether it succeeded. */
export async function succeedsIn(netns: string, command: string, args: readonly string[]): Promise<boolean> {
  try {
    await exec("ip", ["netns", "exec", netns, command, ...args], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export function pings(netns: string, address: string): Promise<boolean> {
  return succeedsIn(netns, "ping", ["-c1", "-W1", "-q", address]);
}

/** A namespace that plays a host (or a misbehaving appliance), with loopback up. */
export async function addNamespace(name: string): Promise<void> {
  await exec("ip", ["netns", "add", name]);
  await exec("ip", ["-n", name, "link", "set", "lo", "up"]);
}

export interface HostSnapshot {
  readonly links: readonly string[];
  readonly namespaces: readonly string[];
  readonly nftTables: readonly string[];
}

/** The machine's own (root namespace) links, all namespaces, and the root's nft tables, as sorted names. */
export async function snapshotMachine(): Promise<HostSnapshot> {
  const links = await execJson<{ ifname: string }[]>("ip", ["-j", "link", "show"]);
  const namespaces = await execJson<{ name: string }[]>("ip", ["-j", "netns", "list"]);
  const tables = await execJson<{ nftables?: { table?: { family: string; name: string } }[] }>("nft", [
    "-j",
    "list",
    "tables",
  ]);
  return {
    links: links.map((link) => link.ifname).sort(),
    namespaces: namespaces.map((ns) => ns.name).sort(),
    nftTables: (Array.isArray(tables) ? [] : (tables.nftables ?? []))
      .flatMap((entry) => (entry.table ? [`${entry.table.family} ${entry.table.name}`] : []))
      .sort(),
  };
}

/** Removes every namespace, root link and root nft table whose name starts with the run's prefix. */
export async function removeEverything(naming: HostNaming): Promise<void> {
  const snapshot = await snapshotMachine();
  for (const name of snapshot.namespaces.filter((n) => n.startsWith(naming.prefix))) {
    await exec("ip", ["netns", "delete", name]).catch(() => undefined);
  }
  for (const name of snapshot.links.filter((n) => n.startsWith(naming.prefix))) {
    await exec("ip", ["link", "delete", "dev", name]).catch(() => undefined);
  }
  for (const table of snapshot.nftTables.filter((t) => t.endsWith(` ${naming.table}`))) {
    const [family, name] = table.split(" ");
    await exec("nft", ["delete", "table", family!, name!]).catch(() => undefined);
  }
}

/**
 * What changed on the machine since `before`, limited to the run's own objects. Other test files run in
 * parallel with their own prefixes (vitest runs files concurrently), so their objects come and go; ours
 * must all be gone.
 */
export async function leftoversSince(before: HostSnapshot, naming: HostNaming): Promise<HostSnapshot> {
  const after = await snapshotMachine();
  const ours = (name: string) => name.startsWith(naming.prefix) || name.endsWith(` ${naming.table}`);
  const added = (was: readonly string[], now: readonly string[]) =>
    now.filter((name) => !was.includes(name) && ours(name));
  return {
    links: added(before.links, after.links),
    namespaces: added(before.namespaces, after.namespaces),
    nftTables: added(before.nftTables, after.nftTables),
  };
}
