/**
 * One readiness check of a running container, by the kind the appliance declared. Network checks run
 * inside the container's own network namespace (nsenter, then a one-line Node client), so they work the
 * same with a private namespace, a VAN's namespace, or an address the host cannot route to.
 */
import { stat } from "node:fs/promises";
import { exec } from "../sys/exec.js";
import type { Readiness } from "./driver.js";
import { type InstanceLayout, inContainer } from "./instance-layout.js";
import { lookInRootfs } from "./rootfs-path.js";
import type { Runc } from "./runc.js";

const probeTimeoutMs = 3_000;

/** The client run in the container's namespace: exits 0 when the port answers (and HTTP says 2xx/3xx). */
const networkProbe = `
const [kind, host, port, path] = process.argv.slice(1);
const done = (ok) => process.exit(ok ? 0 : 1);
setTimeout(() => done(false), ${probeTimeoutMs - 500}).unref();
if (kind === "tcp") {
  const socket = require("node:net").connect({ host, port: Number(port) }, () => { socket.destroy(); done(true); });
  socket.on("error", () => done(false));
} else {
  const request = require("node:http").get({ host, port: Number(port), path, timeout: ${probeTimeoutMs - 500} }, (response) => {
    response.resume();
    done(response.statusCode >= 200 && response.statusCode < 400);
  });
  request.on("error", () => done(false));
}`;

async function probeNetwork(
  pid: number,
  kind: "tcp" | "http",
  host: string,
  port: number,
  path: string,
): Promise<boolean> {
  const result = await exec(
    "nsenter",
    [`--net=/proc/${pid}/ns/net`, "--", process.execPath, "-e", networkProbe, kind, host, String(port), path],
    { timeoutMs: probeTimeoutMs, okStatuses: [0, 1] },
  ).catch(() => undefined);
  return result?.status === 0;
}

async function probeFile(layout: InstanceLayout, path: string): Promise<boolean> {
  if (path.startsWith(`${inContainer.status}/`)) {
    const relative = path.slice(inContainer.status.length + 1);
    if (relative.includes("/")) return false;
    return (await stat(`${layout.status}/${relative}`).catch(() => undefined)) !== undefined;
  }
  // Elsewhere: the container's writes to its root filesystem are visible in the host's overlay mount.
  return (await lookInRootfs(layout.rootfs, path, "ready file").catch(() => ({ exists: false }))).exists;
}

export interface ProbeTarget {
  readonly id: string;
  readonly pid: number;
  readonly layout: InstanceLayout;
  readonly runc: Runc;
}

/** Whether the machine is ready now. "notify" is not polled (see notify-listener.ts): it answers false. */
export async function probeReadiness(readiness: Readiness, target: ProbeTarget): Promise<boolean> {
  switch (readiness.kind) {
    case "none":
      return true;
    case "notify":
      return false;
    case "tcp":
      return probeNetwork(target.pid, "tcp", readiness.host ?? "127.0.0.1", readiness.port, "");
    case "http":
      return probeNetwork(
        target.pid,
        "http",
        readiness.host ?? "127.0.0.1",
        readiness.port,
        readiness.path ?? "/",
      );
    case "exec":
      return (
        (await target.runc.execStatus(target.id, readiness.command, probeTimeoutMs).catch(() => 1)) === 0
      );
    case "file":
      return probeFile(target.layout, readiness.path ?? inContainer.readyFile);
  }
}
