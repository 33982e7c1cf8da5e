/**
 * End-to-end test kit: a utility of its own per test file (a state directory and COLLECTIVE_NET_PREFIX,
 * so that tests and other users of the machine never see each other's bridges, namespaces, nft tables
 * or runc state), the CLI run as a real process, snapshots of every kernel object the utility makes,
 * and a forceful cleanup that removes everything carrying the prefix even after a failure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readdir, readFile, rmdir, stat } from "node:fs/promises";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const repoRoot = resolve(import.meta.dirname, "../..");
/** The CLI under test; COLLECTIVE_E2E_CUI points at another build (e.g. a private copy of bin/ and dist/). */
export const cuiPath = process.env.COLLECTIVE_E2E_CUI ?? join(repoRoot, "bin", "cui.js");
export const appliancesDir = join(repoRoot, "examples", "appliances");

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command (argument array, no shell) to its end; `stdin`, when given, is written to it. */
export function run(
  command: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
  stdin?: string,
): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      env: env ?? process.env,
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** The example appliances' root filesystems, built once (under a lock: test files run in parallel). */
export async function ensureRootfs(): Promise<void> {
  const names = ["dns", "dhcp", "web", "firewall"];
  // Built, and built from the run scripts as they are now (a changed script needs a rebuild).
  const current = (n: string) => {
    const built = join(appliancesDir, n, "rootfs", "appliance", "run");
    return (
      existsSync(built) && readFileSync(built, "utf8") === readFileSync(join(appliancesDir, n, "run"), "utf8")
    );
  };
  if (names.every(current)) return;
  const script = join(repoRoot, "examples", "build-appliances.sh");
  const check = names
    .map(
      (n) =>
        `cmp -s ${join(appliancesDir, n, "run")} ${join(appliancesDir, n, "rootfs", "appliance", "run")}`,
    )
    .join(" && ");
  const result = await run("flock", [
    "/tmp/collective-e2e-rootfs.lock",
    "bash",
    "-c",
    `${check} || bash ${script}`,
  ]);
  if (result.code !== 0) throw new Error(`building the example appliances failed:\n${result.stderr}`);
}

/** A utility of one's own: state directory, name prefix, public pool, and the CLI bound to them. */
export class Utility {
  readonly prefix: string;
  readonly dir: string;
  readonly stateDir: string;
  readonly runcRoot: string;
  /** The public pool's /24, unique per utility so that two of them never share a host address. */
  readonly publicNet: string;

  constructor(readonly label: string) {
    // "cvt" + 3: never a production name ("cv" + b/x/v/e/q/r/p/-) or another test's.
    this.prefix = `cvt${randomBytes(3)
      .toString("hex")
      .replace(/[^a-z0-9]/g, "")
      .slice(0, 3)}`;
    this.dir = mkdtempSync(join("/tmp", `collective-e2e-${label}-`));
    this.stateDir = join(this.dir, "state");
    const key = createHash("sha256").update(this.stateDir).digest("hex").slice(0, 8);
    this.runcRoot = join("/run/collective", key, "runc");
    this.publicNet = `10.254.${1 + (randomBytes(1)[0]! % 250)}`;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, COLLECTIVE_NET_PREFIX: this.prefix, NO_COLOR: "1" };
  }

  /** `cui --state-dir DIR ARGS...` as a process; starts the daemon in the background when none runs. */
  cui(...args: string[]): Promise<Run> {
    return run(process.execPath, [cuiPath, "--state-dir", this.stateDir, ...args], this.env);
  }

  /** The same, but returning the child, for killing the daemon while it runs. */
  spawnCui(...args: string[]): { child: ChildProcess; result: Promise<Run>; stderr: () => string } {
    const child = spawn(process.execPath, [cuiPath, "--state-dir", this.stateDir, ...args], {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const result = new Promise<Run>((done) => child.on("close", (code) => done({ code, stdout, stderr })));
    return { child, result, stderr: () => stderr };
  }

  /** Starts the daemon and gives it this utility's public pool. */
  async init(): Promise<void> {
    const r = await this.cui("pool", "set", "public", `${this.publicNet}.0/24`);
    if (r.code !== 0) throw new Error(`cui pool set failed: ${r.stderr}`);
  }

  daemonPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.stateDir, "daemon.pid"), "utf8").trim());
      return processAlive(pid) ? pid : undefined; // a killed daemon may stay a zombie a while
    } catch {
      return undefined;
    }
  }

  /** kill -9 the daemon and wait until it is gone. */
  async killDaemon(): Promise<void> {
    const pid = this.daemonPid();
    if (pid === undefined) return;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 200 && processAlive(pid); i++) await sleep(10);
  }

  async status(file: string): Promise<StatusJson> {
    const r = await this.cui("status", file, "--json");
    if (r.code !== 0) throw new Error(`cui status failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  /** runc's containers of this utility: id -> pid and status. */
  async containers(): Promise<Map<string, { pid: number; status: string }>> {
    const r = await run("runc", ["--root", this.runcRoot, "list", "-f", "json"]);
    const list = (r.code === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : []) as Array<{
      id: string;
      pid: number;
      status: string;
    }> | null;
    return new Map((list ?? []).map((c) => [c.id, { pid: c.pid, status: c.status }]));
  }

  /** Processes of a container (runc ps). */
  async containerPids(id: string): Promise<number[]> {
    const r = await run("runc", ["--root", this.runcRoot, "ps", "-f", "json", id]);
    return r.code === 0 ? ((JSON.parse(r.stdout) as number[] | null) ?? []) : [];
  }

  /** Every process of the machine inside a network namespace (compared by inode), container or not. */
  async processesInNetns(netns: string): Promise<number[]> {
    const inode = (await stat(`/run/netns/${netns}`)).ino;
    const found: number[] = [];
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const ns = await stat(`/proc/${entry}/ns/net`).catch(() => undefined);
      if (ns?.ino === inode) found.push(Number(entry));
    }
    return found.sort((a, b) => a - b);
  }

  exec(id: string, ...command: string[]): Promise<Run> {
    return run("runc", ["--root", this.runcRoot, "exec", id, ...command]);
  }

  /** Every kernel and file-system object of this utility (by prefix, state directory or runc root). */
  async snapshot(): Promise<HostObjects> {
    return hostObjects(
      (name) => name.startsWith(this.prefix),
      this.stateDir,
      this.runcRoot,
      `collective-${this.prefix}`,
    );
  }

  /** Removes everything the utility made, even after a failure: daemon, containers, mounts, links, files. */
  async cleanup(): Promise<void> {
    await this.killDaemon().catch(() => undefined);
    for (const id of (await this.containers().catch(() => new Map())).keys()) {
      await run("runc", ["--root", this.runcRoot, "delete", "--force", id]);
    }
    const mounts = (await readFile("/proc/self/mountinfo", "utf8"))
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m]);
    for (const loop of await loopDevices())
      if (loop.file.startsWith(this.dir)) await run("losetup", ["-d", loop.device]);
    for (const ns of await netnsNames())
      if (ns.startsWith(`${this.prefix}-`)) await run("ip", ["netns", "delete", ns]);
    for (const link of await linkNames())
      if (link.startsWith(this.prefix)) await run("ip", ["link", "delete", link]);
    for (const table of await nftTables())
      if (table.endsWith(` collective_${this.prefix}`))
        await run("nft", ["delete", "table", ...table.split(" ").slice(1)]);
    await removeCgroups(`collective-${this.prefix}`);
    rmSync(resolve(this.runcRoot, ".."), { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// The status JSON is the CLI's public contract; the tests read it with the manager's own types.
export type { ComponentStatusJson as ComponentStatus, StatusJson } from "../../src/manager/manager.js";

import type { StatusJson } from "../../src/manager/manager.js";

export interface HostObjects {
  netns: string[];
  links: string[];
  nftTables: string[];
  mounts: string[];
  loopDevices: string[];
  runcContainers: string[];
  cgroups: string[];
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function netnsNames(): Promise<string[]> {
  return (await readdir("/run/netns").catch(() => [] as string[])).sort();
}

async function linkNames(): Promise<string[]> {
  const r = await run("ip", ["-j", "link", "show"]);
  return (JSON.parse(r.stdout || "[]") as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

async function nftTables(): Promise<string[]> {
  const r = await run("nft", ["list", "tables"]);
  return r.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();
}

async function loopDevices(): Promise<Array<{ device: string; file: string }>> {
  const r = await run("losetup", ["--list", "--json", "-O", "NAME,BACK-FILE"]);
  if (!r.stdout.trim()) return [];
  const parsed = JSON.parse(r.stdout) as { loopdevices: Array<{ name: string; "back-file": string | null }> };
  return parsed.loopdevices.map((l) => ({
    device: l.name,
    file: (l["back-file"] ?? "").replace(/ \(deleted\)$/, ""),
  }));
}

async function cgroupDirs(parent: string): Promise<string[]> {
  const base = join("/sys/fs/cgroup", parent);
  const entries = await readdir(base, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => join(base, e.name))
    .sort();
}

async function removeCgroups(parent: string): Promise<void> {
  for (const dir of await cgroupDirs(parent)) await rmdir(dir).catch(() => undefined);
  await rmdir(join("/sys/fs/cgroup", parent)).catch(() => undefined);
}

/** The machine's objects that `mine` claims (by name), or that live under the state dir or runc root. */
export async function hostObjects(
  mine: (name: string) => boolean,
  stateDir: string,
  runcRoot: string,
  cgroupParent: string,
): Promise<HostObjects> {
  const r = await run("runc", ["--root", runcRoot, "list", "-f", "json"]);
  const containers = (
    r.code === 0 && r.stdout.trim() ? ((JSON.parse(r.stdout) as Array<{ id: string }> | null) ?? []) : []
  ).map((c) => c.id);
  const mounts = (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter(
      (m) =>
        m.startsWith(`${stateDir}/`) ||
        m.startsWith(`${resolve(runcRoot, "..")}/`) ||
        (m.startsWith("/run/netns/") && mine(m.slice(11))),
    );
  return {
    netns: (await netnsNames()).filter(mine),
    links: (await linkNames()).filter(mine),
    nftTables: (await nftTables()).filter((t) => mine(t.split(" ")[2]?.replace(/^collective_/, "") ?? "")),
    mounts: mounts.sort(),
    loopDevices: (await loopDevices())
      .filter((l) => l.file.startsWith(`${stateDir}/`))
      .map((l) => `${l.device} ${l.file}`)
      .sort(),
    runcContainers: containers.sort(),
    cgroups: await cgroupDirs(cgroupParent),
  };
}

export function emptyObjects(): HostObjects {
  return {
    netns: [],
    links: [],
    nftTables: [],
    mounts: [],
    loopDevices: [],
    runcContainers: [],
    cgroups: [],
  };
}

/** GET http://host:port/path from the host, with a deadline; resolves with status and body. */
export function httpGet(
  host: string,
  port: number,
  path = "/",
  timeoutMs = 3000,
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host, port, path, method: "GET", timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET http://${host}:${port}${path} timed out`)));
    req.on("error", fail);
    req.end();
  });
}

/** Retries `probe` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ""}`);
    await sleep(100);
  }
}

const imports = (dir: string) => `import { url => "${dir}/dns", cvl => "dns.cvl" } DNS;
import { url => "${dir}/dhcp", cvl => "dhcp.cvl" } DHCP;
import { url => "${dir}/web", cvl => "web.cvl" } Web;
import { url => "${dir}/firewall", cvl => "firewall.cvl" } Firewall;
`;

/**
 * The example VAN with local imports: 5 machine components in 3 waves (d; h, www, blog; f), like
 * examples/groupware/groupware.cvl. `extra` is spliced into the VAN's body.
 */
export function vanSource(extra = "", head = ""): string {
  return `${imports(appliancesDir)}${head}
Demo extends VANAppliance {
  DNS d;
  DHCP h;
  Web www, blog;
  Firewall f;
  d.domain = "acme.example";
  d.dnshosts = { name => d.name, ip => d.ethernet0.ip },
               { name => h.name, ip => h.ethernet0.ip },
               { name => www.name, ip => www.ethernet0.ip },
               { name => blog.name, ip => blog.ethernet0.ip },
               { name => f.name, ip => f.ethernet0.ip };
  h.domain = "acme.example";
  h.router = f.ethernet0.ip;
  h.dns = d.ethernet0.ip;
  www.domain = "acme.example";
  www.title = "Welcome to the Collective";
  blog.domain = "acme.example";
  blog.title = "A blog";
  f.services = { port => "80", ip => www.ethernet0.ip },
               { port => "8080", ip => blog.ethernet0.ip, to => "80" };
  vanIF = "f.ethernet1";
  defaultroute = f.ethernet0.ip;
${extra}}
`;
}

export const vanMachines = ["blog", "d", "f", "h", "www"];

export function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export function tempDir(parent: string, label: string): string {
  return mkdtempSync(join(parent, `${label}-`));
}
