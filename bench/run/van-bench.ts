import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { median } from "../median.js";
import { type Run, removeBenchLeftovers, runProcess } from "./run-kit.js";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const cui = process.env.CUI ?? join(root, "bin", "cui.js");
const appliances = join(root, "examples", "appliances");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : fallback;
}
const runs = Number(arg("--runs", "5"));
const sizes = arg("--sizes", "10,50,200").split(",").map(Number);
const skipScale = process.argv.includes("--skip-scale");

const prefix = `cvb${randomBytes(2).toString("hex").slice(0, 3)}`;
const dir = mkdtempSync("/tmp/collective-bench-run-");
const stateDir = join(dir, "state");
const publicNet = `10.253.${1 + (randomBytes(1)[0]! % 250)}`;
const env = { ...process.env, COLLECTIVE_NET_PREFIX: prefix };
const runcRoot = join(
  "/run/collective",
  createHash("sha256").update(stateDir).digest("hex").slice(0, 8),
  "runc",
);

function run(command: string, args: string[], extraEnv: NodeJS.ProcessEnv = env): Promise<Run> {
  return runProcess(command, args, extraEnv);
}

async function cuiOk(...args: string[]): Promise<Run> {
  const r = await run(process.execPath, [cui, "--state-dir", stateDir, ...args]);
  if (r.code !== 0) throw new Error(`cui ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
  return r;
}

interface Timings {
  appliance: string;
  evaluateMs: number;
  allocateMs: number;
  networkMs: number;
  waves: Array<{ components: number; launchedMs: number; readyMs: number }>;
  totalMs: number;
}

function lastTimings(): Timings {
  const lines = readFileSync(join(stateDir, "daemon.log"), "utf8").split("\n");
  const line = lines.reverse().find((l) => l.startsWith("cui daemon: start timings "));
  if (!line) throw new Error("the daemon logged no start timings");
  return JSON.parse(line.slice("cui daemon: start timings ".length)) as Timings;
}

function daemonMemory(): { hwmMiB: number; rssMiB: number } {
  const pid = readFileSync(join(stateDir, "daemon.pid"), "utf8").trim();
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? "0");
  return { hwmMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 };
}

function get(host: string, port: number): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host, port, path: "/", timeout: 3000 }, (res) => {
      res.resume();
      res.on("end", () => done(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", fail);
    req.end();
  });
}

const fmt = (values: readonly number[]) =>
  `${median(values).toFixed(0)} ms (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;

const imports = ["dns", "dhcp", "web", "firewall"]
  .map(
    (n) =>
      `import { url => "${appliances}/${n}", cvl => "${n}.cvl" } ${{ dns: "DNS", dhcp: "DHCP", web: "Web", firewall: "Firewall" }[n]};`,
  )
  .join("\n");

const exampleVan = `${imports}
Demo extends VANAppliance {
  DNS d;
  DHCP h;
  Web www, blog;
  Firewall f;
  d.domain = "acme.example";
  d.dnshosts = { name => d.name, ip => d.ethernet0.ip }, { name => h.name, ip => h.ethernet0.ip },
               { name => www.name, ip => www.ethernet0.ip }, { name => blog.name, ip => blog.ethernet0.ip },
               { name => f.name, ip => f.ethernet0.ip };
  h.domain = "acme.example";
  h.router = f.ethernet0.ip;
  h.dns = d.ethernet0.ip;
  www.title = "Welcome to the Collective";
  blog.title = "A blog";
  f.services = { port => "80", ip => www.ethernet0.ip }, { port => "8080", ip => blog.ethernet0.ip, to => "80" };
  vanIF = "f.ethernet1";
  defaultroute = f.ethernet0.ip;
}
`;

function scaleVan(n: number): string {
  const webs = Array.from({ length: n - 1 }, (_, i) => `w${i + 1}`);
  return `${imports}
Scale${n} extends VANAppliance {
  DNS d;
  Web ${webs.join(", ")};
  d.domain = "bench.example";
${webs.map((w) => `  ${w}.title = "${w}";`).join("\n")}
}
`;
}

function breakdown(t: Timings[]): string[] {
  const rows = [
    ["evaluate (imports, CVL, checks)", t.map((x) => x.evaluateMs)],
    ["allocate (capacity, ids, addresses, journal)", t.map((x) => x.allocateMs)],
    ["networks (bridges, public network, nft)", t.map((x) => x.networkMs)],
  ] as Array<[string, number[]]>;
  const waves = t[0]!.waves.length;
  for (let w = 0; w < waves; w++) {
    const previousReady = (x: Timings) =>
      w === 0 ? x.evaluateMs + x.allocateMs + x.networkMs : x.waves[w - 1]!.readyMs;
    rows.push([
      `wave ${w + 1} (${t[0]!.waves[w]!.components}): launch (namespace, veths, overlay, disks, runc run)`,
      t.map((x) => x.waves[w]!.launchedMs - previousReady(x)),
    ]);
    rows.push([
      `wave ${w + 1}: until ready (health check)`,
      t.map((x) => x.waves[w]!.readyMs - x.waves[w]!.launchedMs),
    ]);
  }
  rows.push(["daemon total (request to last ready)", t.map((x) => x.totalMs)]);
  return rows.map(([name, v]) => `| ${name.padEnd(78)} | ${fmt(v).padStart(22)} |`);
}

async function main(): Promise<void> {
  if (
    !["dns", "dhcp", "web", "firewall"].every((n) =>
      existsSync(join(appliances, n, "rootfs", "appliance", "run")),
    )
  ) {
    const built = await run("bash", [join(root, "examples", "build-appliances.sh")]);
    if (built.code !== 0) throw new Error(built.stderr);
  }
  const file = join(dir, "demo.cvl");
  writeFileSync(file, exampleVan);
  console.log(`# Running appliances (prefix ${prefix}, state ${stateDir}, ${new Date().toISOString()})`);
  await cuiOk("pool", "set", "public", `${publicNet}.0/24`);
  await cuiOk("host", "set", "--memory", "65536", "--max-machines", "1000");

  // 1. The example VAN, warm: one start and stop first (page cache, data disks created).
  const first = await cuiOk("start", file);
  console.log(`first start (daemon running, data disks created): ${first.ms.toFixed(0)} ms`);
  const status = JSON.parse((await cuiOk("status", file, "--json")).stdout) as {
    appliances: Array<{ components: Array<{ path: string; interfaces: Record<string, { ip: string }> }> }>;
  };
  const publicIp = status.appliances[0]!.components.find((c) => c.path === "f")!.interfaces.ethernet1!.ip;
  await cuiOk("stop", file);
  const endToEnd: number[] = [];
  const toPage: number[] = [];
  const stops: number[] = [];
  const timings: Timings[] = [];
  for (let i = 0; i < runs; i++) {
    const began = performance.now();
    const started = await cuiOk("start", file);
    const code = await get(publicIp, 80);
    toPage.push(performance.now() - began);
    if (code !== 200) throw new Error(`the page answered ${code}`);
    endToEnd.push(started.ms);
    timings.push(lastTimings());
    stops.push((await cuiOk("stop", file)).ms);
  }
  const version = await run(process.execPath, [cui, "--version"]);
  console.log(`\n## The example VAN: 5 components, 3 waves, ${runs} runs, median (min–max)\n`);
  console.log(`| ${"measurement".padEnd(78)} | ${"time".padStart(22)} |`);
  console.log(`| ${"-".repeat(78)} | ${"-".repeat(21)}: |`);
  console.log(
    `| ${"`cui start FILE`, end to end (process spawn to exit; all components ready)".padEnd(78)} | ${fmt(endToEnd).padStart(22)} |`,
  );
  console.log(
    `| ${"`cui start` then the page fetched from the host through the firewall".padEnd(78)} | ${fmt(toPage).padStart(22)} |`,
  );
  for (const row of breakdown(timings)) console.log(row);
  console.log(
    `| ${"`cui --version` (node start-up of the CLI, for scale)".padEnd(78)} | ${`${version.ms.toFixed(0)} ms`.padStart(22)} |`,
  );
  console.log(`| ${"`cui stop FILE`, end to end".padEnd(78)} | ${fmt(stops).padStart(22)} |`);

  if (skipScale) return;
  console.log(`\n## Scale: 1 DNS + N-1 web servers in one VAN (2 waves), a fresh daemon per N\n`);
  console.log(
    "| N | first start (disks created) | second start | per component (2nd) | stop | daemon VmHWM | daemon VmRSS after |",
  );
  console.log("| -: | -: | -: | -: | -: | -: | -: |");
  for (const n of sizes) {
    await cuiOk("daemon", "stop");
    await new Promise((r) => setTimeout(r, 500));
    const scaleFile = join(dir, `scale${n}.cvl`);
    writeFileSync(scaleFile, scaleVan(n));
    const a = await cuiOk("start", scaleFile);
    const ta = lastTimings();
    await cuiOk("stop", scaleFile);
    const b = await cuiOk("start", scaleFile);
    const tb = lastTimings();
    const memory = daemonMemory();
    const s = await cuiOk("stop", scaleFile);
    console.log(
      `| ${n} | ${a.ms.toFixed(0)} ms (daemon ${ta.totalMs.toFixed(0)}) | ${b.ms.toFixed(0)} ms (daemon ${tb.totalMs.toFixed(0)}; evaluate ${tb.evaluateMs.toFixed(0)}, ` +
        `allocate ${tb.allocateMs.toFixed(0)}, waves ${tb.waves.map((w) => `${w.launchedMs.toFixed(0)}/${w.readyMs.toFixed(0)}`).join(", ")}) | ` +
        `${(b.ms / n).toFixed(0)} ms | ${s.ms.toFixed(0)} ms | ${memory.hwmMiB.toFixed(0)} MiB | ${memory.rssMiB.toFixed(0)} MiB |`,
    );
  }
}

async function cleanup(): Promise<void> {
  await removeBenchLeftovers({ dir, stateDir, runcRoot, prefix });
}

try {
  await main();
} finally {
  await cleanup();
}
