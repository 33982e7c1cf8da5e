/**
 * The container driver's overhead per container over a bare `runc run` (needs root, runc, busybox-static).
 *
 *   npm run build && node dist/bench/agent/container-overhead.js [--runs N]
 *
 * Both sides start the same thing: a busybox `sleep` under the OCI spec the driver writes. The bare side
 * reuses one instance's prepared bundle (copied, with its own cgroup) and times `runc run --detach` alone;
 * the driver side times ContainerDriver.start of a fresh instance: state dirs, overlay mount, parameter
 * files, config.json, runc run, runc state and the record. Stop and remove are timed too. Prints medians.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ContainerDriver } from "../../src/agent/container-driver.js";
import type { MachineSpec } from "../../src/agent/driver.js";
import { Runc } from "../../src/agent/runc.js";
import { buildBusyboxRootfs } from "../../src/agent/test-support/busybox-rootfs.js";
import { forceCleanup } from "../../src/agent/test-support/host-snapshot.js";
import { median } from "../median.js";

const runsArg = process.argv.indexOf("--runs");
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 20;
const prefix = `cvb-${randomBytes(3).toString("hex")}`;
const runcRoot = `/run/${prefix}/runc`;

function runcRunDetached(bundle: string, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("runc", ["--root", runcRoot, "run", "--detach", "--bundle", bundle, id], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`runc run exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), `${prefix}-`));
  try {
    const programPath = await buildBusyboxRootfs(join(base, "program"));
    const driver = new ContainerDriver({ stateRoot: join(base, "agent"), runcRoot, cgroupParent: prefix });
    const spec = (index: number): MachineSpec => ({
      id: `${prefix}-${index}`,
      programPath,
      stateDir: join(base, "instances", String(index)),
      process: { args: ["/bin/sleep", "1000"] },
      memoryMiB: 64,
      stopTimeoutSec: 0,
      params: { name: [`m${index}`], "ethernet0.ip": ["10.0.0.2"] },
    });

    // Warm up (page cache, runc binary) and prepare the bundle the bare side reuses.
    await driver.start(spec(0));
    const template = JSON.parse(
      await readFile(join(base, "instances", "0", "bundle", "config.json"), "utf8"),
    ) as {
      linux: { cgroupsPath: string };
    };

    const bare: number[] = [];
    const runc = new Runc(runcRoot);
    for (let index = 1; index <= runs; index++) {
      const bundle = join(base, "bare", String(index));
      await mkdir(bundle, { recursive: true });
      template.linux.cgroupsPath = `/${prefix}/bare-${index}`;
      await writeFile(join(bundle, "config.json"), JSON.stringify(template));
      const began = performance.now();
      await runcRunDetached(bundle, `${prefix}-bare-${index}`);
      bare.push(performance.now() - began);
      await runc.delete(`${prefix}-bare-${index}`);
    }

    const started: number[] = [];
    const stopped: number[] = [];
    for (let index = 1; index <= runs; index++) {
      const began = performance.now();
      await driver.start(spec(index));
      started.push(performance.now() - began);
      const stopBegan = performance.now();
      await driver.remove(`${prefix}-${index}`);
      stopped.push(performance.now() - stopBegan);
    }
    await driver.remove(`${prefix}-0`);
    await driver.close();

    const bareMs = median(bare);
    const driverMs = median(started);
    console.log(`runs: ${runs} (medians)`);
    console.log(`bare runc run --detach:     ${bareMs.toFixed(1)} ms`);
    console.log(`ContainerDriver.start:      ${driverMs.toFixed(1)} ms`);
    console.log(
      `overhead per container:     ${(driverMs - bareMs).toFixed(1)} ms (ratio ${(driverMs / bareMs).toFixed(2)})`,
    );
    console.log(
      `ContainerDriver.remove:     ${median(stopped).toFixed(1)} ms (SIGTERM ignored by pid 1, timeout 0 → SIGKILL)`,
    );
  } finally {
    await forceCleanup(runcRoot, base, prefix);
    await rm(`/run/${prefix}`, { recursive: true, force: true });
    await rm(base, { recursive: true, force: true });
  }
}

await main();
