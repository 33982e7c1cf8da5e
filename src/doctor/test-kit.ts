/**
 * Test helpers for cui doctor: fake binaries (shell scripts that say they are fakes) and a look at what a
 * doctor run could leave behind on the machine.
 */
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exec } from "../sys/exec.js";

/** Writes an executable FAKE `name` into dir that runs `body` (sh), and returns its path. */
export function writeFakeBinary(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `#!/bin/sh\n# FAKE ${name}, written by a cui doctor test; not the real tool.\n${body}\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

export interface Leftovers {
  readonly nftTables: readonly string[];
  readonly mounts: readonly string[];
  readonly tempDirs: readonly string[];
  readonly namespaces: readonly string[];
}

/** Everything named like what doctor creates: nft tables, overlay mounts, temp dirs, probe namespaces. */
export async function doctorLeftovers(scratchDirs: readonly string[]): Promise<Leftovers> {
  const tables = (await exec("nft", ["list", "tables"])).stdout;
  const namespaces = (await exec("ip", ["netns", "list"])).stdout;
  return {
    nftTables: tables.split("\n").filter((line) => line.includes("cvdoctor")),
    mounts: readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .filter((line) => line.includes("cui-doctor")),
    tempDirs: scratchDirs.flatMap((dir) =>
      readdirSync(dir).filter((entry) => entry.startsWith(".cui-doctor-")),
    ),
    namespaces: namespaces.split("\n").filter((line) => line.startsWith("cvprobe")),
  };
}

export const nothingLeft: Leftovers = { nftTables: [], mounts: [], tempDirs: [], namespaces: [] };
