/**
 * One runner per tool, each answering the same questions for one form (tree or image) of the pair:
 * how much the repository grows for v2, how many bytes a host holding v1 transfers for v2, how fast it
 * publishes and fetches, and its peak memory. Transfers over HTTP go through a byte-counting static
 * server (`cui repo serve`'s, in this process), so every tool's bytes are counted the same way.
 */
import { chmod, cp, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Measured, measure, run, treeBytes } from "./measure.js";
import type { Pair } from "./sources.js";
import { writeApplianceFiles } from "./sources.js";
import { discard } from "./trash.js";

export type Form = "tree" | "image";

export interface ToolResult {
  readonly tool: string;
  readonly form: Form;
  readonly logicalBytes: number;
  readonly growthBytes?: number;
  readonly fetchBytes?: number;
  readonly publishNew?: Measured;
  readonly publishIncremental?: Measured;
  readonly publishUnchanged?: Measured;
  readonly fetchCold?: Measured;
  readonly fetchIncremental?: Measured;
}

/** Counts body bytes the shared HTTP server sends; reset before each measured transfer. */
export interface ByteCounter {
  readonly url: string;
  reset(): void;
  readonly bytes: number;
}

export interface Context {
  readonly pair: Pair;
  readonly cui: string;
  readonly server: ByteCounter;
}

/** Where replaced work directories go until the benchmark ends (see trash.ts). */
export const trashOf = (pair: Pair): string => join(pair.dir, "trash");

const inputOf = (form: Form, version: "v1" | "v2"): string => (form === "tree" ? version : `${version}.img`);

export async function runOurs(context: Context, form: Form, imageName?: string): Promise<ToolResult> {
  const { pair, cui, server } = context;
  const work = join(pair.dir, imageName ? "ours-big" : `ours-${form}`);
  await discard(work, trashOf(pair));
  await mkdir(work);
  const env = { ...process.env, COLLECTIVE_PUBLISHER_KEY: join(pair.dir, "publisher.key") };
  const node = process.execPath;
  const repo = join(work, "repo");
  await measure(node, [cui, "create", repo], env);
  const v1Input = imageName ?? inputOf(form, "v1");
  const cvl1 = await writeApplianceFiles(pair.dir, `bench-${imageName ? "big" : form}-1`, v1Input, form);
  const cvl2 = await writeApplianceFiles(pair.dir, `bench-${form}-2`, inputOf(form, "v2"), form);
  const publishNew = await measure(node, [cui, "publish", repo, cvl1], env, [join(pair.dir, v1Input), work]);
  const logicalBytes = await treeBytes(join(pair.dir, v1Input));
  const url = `${server.url}/${work.slice(pair.dir.length + 1)}/repo`;
  const pull = (version: number, cache: string, dest: string): Promise<Measured> =>
    measure(node, [cui, "pull", "--json", "--version", String(version), "--cache", cache, url, dest], env, [
      repo,
      cache,
    ]);
  if (imageName) {
    const fetchCold = await pull(1, join(work, "cache"), join(work, "pulled-1"));
    return { tool: "ours", form, logicalBytes, publishNew, fetchCold };
  }
  const size1 = await treeBytes(repo);
  const v2Input = join(pair.dir, inputOf(form, "v2"));
  const publishIncremental = await measure(node, [cui, "publish", repo, cvl2], env, [v2Input, repo]);
  const growthBytes = (await treeBytes(repo)) - size1;
  const publishUnchanged = await measure(node, [cui, "publish", repo, cvl2], env, [v2Input, repo]);
  const cache = join(work, "cache");
  const fetchCold = await pull(1, cache, join(work, "pulled-1"));
  server.reset();
  const fetchIncremental = await pull(2, cache, join(work, "pulled-2"));
  const fetchBytes = server.bytes;
  await discard(join(work, "pulled-1"), trashOf(pair));
  await discard(join(work, "pulled-2"), trashOf(pair));
  return {
    tool: "ours",
    form,
    logicalBytes,
    growthBytes,
    fetchBytes,
    publishNew,
    publishIncremental,
    publishUnchanged,
    fetchCold,
    fetchIncremental,
  };
}

export async function runCasync(context: Context, form: Form): Promise<ToolResult> {
  const { pair, server } = context;
  const work = join(pair.dir, `casync-${form}`);
  await discard(work, trashOf(pair));
  await mkdir(work);
  const store = join(work, "store");
  const suffix = form === "tree" ? "caidx" : "caibx";
  const index = (v: number): string => join(work, `v${v}.${suffix}`);
  const make = (v: 1 | 2, target = index(v)): Promise<Measured> =>
    measure(
      "casync",
      ["make", `--store=${store}`, target, join(pair.dir, inputOf(form, `v${v}`))],
      process.env,
      [join(pair.dir, inputOf(form, `v${v}`)), work],
    );
  const publishNew = await make(1);
  const size1 = await treeBytes(store);
  const publishIncremental = await make(2);
  const growthBytes = (await treeBytes(store)) - size1 + (await stat(index(2))).size;
  const publishUnchanged = await make(2, join(work, `again.${suffix}`));
  const base = `${server.url}/casync-${form}`;
  const target = (name: string): string => join(work, form === "tree" ? name : `${name}.img`);
  const fetchCold = await measure(
    "casync",
    ["extract", `--store=${base}/store`, `${base}/v1.${suffix}`, target("cold-v1")],
    process.env,
    [work],
  );
  server.reset();
  const seed = join(pair.dir, inputOf(form, "v1"));
  const fetchIncremental = await measure(
    "casync",
    ["extract", `--store=${base}/store`, `--seed=${seed}`, `${base}/v2.${suffix}`, target("warm-v2")],
    process.env,
    [work, seed],
  );
  const fetchBytes = server.bytes;
  const logicalBytes = await treeBytes(seed);
  return {
    tool: "casync",
    form,
    logicalBytes,
    growthBytes,
    fetchBytes,
    publishNew,
    publishIncremental,
    publishUnchanged,
    fetchCold,
    fetchIncremental,
  };
}

export async function runRsync(context: Context, form: Form): Promise<ToolResult> {
  const { pair } = context;
  const work = join(pair.dir, `rsync-${form}`);
  await discard(work, trashOf(pair));
  await mkdir(work);
  // A "remote shell" that runs the other side locally, so rsync speaks its network protocol (with -z)
  // through a pipe instead of taking its local-copy shortcut.
  const rsh = join(work, "rsh-local");
  await writeFile(rsh, '#!/bin/sh\nshift\nexec "$@"\n');
  await chmod(rsh, 0o755);
  const source = join(pair.dir, inputOf(form, "v2"));
  const dest = join(work, form === "tree" ? "host" : "host.img");
  await cp(join(pair.dir, inputOf(form, "v1")), dest, { recursive: true });
  const args = form === "tree" ? ["-a", `${source}/`, `localhost:${dest}/`] : [source, `localhost:${dest}`];
  const fetchIncremental = await measure(
    "rsync",
    ["-z", "--no-whole-file", "--stats", "-e", rsh, ...args],
    process.env,
    [source, dest],
  );
  const sent = /Total bytes sent: ([\d,.]+)/.exec(fetchIncremental.stdout)?.[1];
  const logicalBytes = await treeBytes(join(pair.dir, inputOf(form, "v1")));
  return {
    tool: "rsync -z",
    form,
    logicalBytes,
    fetchBytes: Number(sent?.replace(/[,.]/g, "")),
    fetchIncremental,
  };
}

export async function runRestic(context: Context, form: Form): Promise<ToolResult> {
  const { pair } = context;
  const work = join(pair.dir, `restic-${form}`);
  await discard(work, trashOf(pair));
  await mkdir(work);
  const passwordFile = join(work, "password");
  await writeFile(passwordFile, "benchmark-only\n", { mode: 0o600 });
  const repo = join(work, "repo");
  const common = [
    "--repo",
    repo,
    "--password-file",
    passwordFile,
    "--cache-dir",
    join(work, "cache"),
    "--quiet",
  ];
  const check = async (result: Promise<{ code: number; stderr: string }>): Promise<void> => {
    const { code, stderr } = await result;
    if (code !== 0) throw new Error(`restic failed: ${stderr}`);
  };
  await check(run("restic", ["init", ...common]));
  const backup = (v: "v1" | "v2"): Promise<Measured> =>
    measure("restic", ["backup", ...common, join(pair.dir, inputOf(form, v))], process.env, [
      join(pair.dir, inputOf(form, v)),
      work,
    ]);
  const publishNew = await backup("v1");
  const size1 = await treeBytes(repo);
  const publishIncremental = await backup("v2");
  const growthBytes = (await treeBytes(repo)) - size1;
  const publishUnchanged = await backup("v2");
  const fetchCold = await measure(
    "restic",
    ["restore", ...common, "latest", "--target", join(work, "restored")],
    process.env,
    [work],
  );
  const logicalBytes = await treeBytes(join(pair.dir, inputOf(form, "v1")));
  return {
    tool: "restic",
    form,
    logicalBytes,
    growthBytes,
    publishNew,
    publishIncremental,
    publishUnchanged,
    fetchCold,
  };
}
