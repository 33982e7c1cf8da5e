/**
 * Turns an evaluated machine component and its allocations into what the host agent needs to start it:
 * the machine spec (program, process, resources, data disks, parameters, readiness) and its interfaces.
 * Every value that came from CVL is checked here, with an error that names the component and parameter.
 */
import { createHash } from "node:crypto";
import { isAbsolute, join, normalize } from "node:path";
import type { DataDisk, Readiness, RestartPolicy } from "../agent/driver.js";
import type { MachineInterface, StartMachineRequest } from "../agent/host-agent.js";
import type { EvaluatedComponent } from "../cvl/index.js";
import { decodeMap, display } from "../cvl/values.js";
import { CollectiveError } from "../errors.js";
import type { Allocations } from "./allocations.js";
import { memoryOf } from "./capacity.js";
import { resolveParams } from "./resolve-params.js";

export interface ProgramInfo {
  /** The read-only program tree on the host. */
  readonly path: string;
  /** The image's own configuration, used when the CVL gives no command. */
  readonly defaults?: { args?: string[]; env?: Record<string, string>; workingDir?: string; user?: string };
}

/** The machine's id on the host: the instance id and the component path, safe for runc and paths. */
export function machineId(instanceId: string, path: string): string {
  const readable = (path || "root")
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, "-")
    .slice(0, 32);
  const exact =
    readable === (path || "root") ? "" : `-${createHash("sha256").update(path).digest("hex").slice(0, 6)}`;
  return `${instanceId}.${readable}${exact}`;
}

function label(c: EvaluatedComponent, param: string): string {
  return `${c.path || c.name}.${param}`;
}

function strings(c: EvaluatedComponent, param: string): string[] {
  return (c.params.get(param) ?? []).map(display);
}

function single(c: EvaluatedComponent, param: string): string | undefined {
  const values = strings(c, param);
  if (values.length > 1) {
    throw new CollectiveError("BAD_VALUE", `${label(c, param)} has ${values.length} values; it takes one`);
  }
  return values[0];
}

function positiveInt(c: EvaluatedComponent, param: string, text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new CollectiveError(
      "BAD_VALUE",
      `${label(c, param)} is "${text}"; it must be a positive whole number`,
    );
  }
  return n;
}

function mapOf(c: EvaluatedComponent, param: string, text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const [key, values] of decodeMap(text)) map.set(key, values.join(","));
  if (map.size === 0) throw new CollectiveError("BAD_VALUE", `${label(c, param)} is empty; it must be a map`);
  return map;
}

export function readiness(c: EvaluatedComponent): Readiness {
  const text = single(c, "healthcheck");
  if (text === undefined) return { kind: "none" };
  const map = mapOf(c, "healthcheck", text);
  const port = map.get("port");
  if (map.has("tcp")) return { kind: "tcp", port: positiveInt(c, "healthcheck", map.get("tcp")!) };
  if (map.has("http")) {
    return {
      kind: "http",
      path: map.get("http") || "/",
      port: port ? positiveInt(c, "healthcheck", port) : 80,
    };
  }
  if (map.has("exec")) return { kind: "exec", command: ["/bin/sh", "-c", map.get("exec")!] };
  if (map.has("file")) return { kind: "file", path: map.get("file")! };
  if (map.has("notify")) return { kind: "notify" };
  throw new CollectiveError(
    "BAD_VALUE",
    `${label(c, "healthcheck")} is "${text}"; it must be a map with tcp, http, exec, file or notify, e.g. { tcp => "80" }`,
  );
}

export function dataDisks(c: EvaluatedComponent, disksDir: string): DataDisk[] {
  const seen = new Set<string>();
  return strings(c, "datadisks").map((text) => {
    const map = mapOf(c, "datadisks", text);
    const device = map.get("device") ?? "";
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_:-]{0,31}$/.test(device)) {
      throw new CollectiveError(
        "BAD_VALUE",
        `${label(c, "datadisks")}: device "${device}" must be 1-32 letters, digits, '_', ':' or '-'`,
      );
    }
    if (seen.has(device))
      throw new CollectiveError("BAD_VALUE", `${label(c, "datadisks")}: device "${device}" is listed twice`);
    seen.add(device);
    const mount = map.get("mount") ?? "";
    if (
      !isAbsolute(mount) ||
      normalize(mount) !== mount ||
      mount.split("/").includes("..") ||
      mount === "/"
    ) {
      throw new CollectiveError(
        "BAD_VALUE",
        `${label(c, "datadisks")}: mount "${mount}" must be an absolute, normalized path inside the appliance, e.g. /var/lib/data`,
      );
    }
    const sizeMiB = positiveInt(c, "datadisks", map.get("size") ?? "");
    return { device, sizeMiB, mount, imagePath: join(disksDir, `${device.replace(/:/g, "_")}.img`) };
  });
}

function sysctls(c: EvaluatedComponent): { sysctls?: Record<string, string> } {
  const text = single(c, "sysctls");
  if (text === undefined) return {};
  return { sysctls: Object.fromEntries(mapOf(c, "sysctls", text)) };
}

function restartPolicy(c: EvaluatedComponent): RestartPolicy {
  const text = single(c, "restart") ?? "on-failure";
  if (text === "no" || text === "on-failure" || text === "always") return text;
  throw new CollectiveError(
    "BAD_VALUE",
    `${label(c, "restart")} is "${text}"; it must be "no", "on-failure" or "always"`,
  );
}

export function capabilities(c: EvaluatedComponent): string[] {
  return strings(c, "capabilities").map((cap) => {
    const name = cap.toUpperCase().startsWith("CAP_") ? cap.toUpperCase() : `CAP_${cap.toUpperCase()}`;
    if (!/^CAP_[A-Z_]{2,30}$/.test(name))
      throw new CollectiveError("BAD_VALUE", `${label(c, "capabilities")}: "${cap}" is not a capability`);
    return name;
  });
}

export interface MachineRequestInput {
  readonly instanceId: string;
  readonly component: EvaluatedComponent;
  readonly allocations: Allocations;
  readonly program: ProgramInfo;
  /** The instance's directory on the host (state of each machine, data disks). */
  readonly instanceDir: string;
  /** The default route each VAN gives its members (the gateway's inside address), by VAN path. */
  readonly defaultRoutes: ReadonlyMap<string, string>;
  /** The public network's host address (the gateway's route out). */
  readonly publicGateway: string | undefined;
}

export function machineRequest(input: MachineRequestInput): StartMachineRequest {
  const { component: c, allocations } = input;
  const id = machineId(input.instanceId, c.path);
  const resolved = resolveParams(c, allocations.values);
  const command = strings(c, "command");
  const defaults = input.program.defaults ?? {};
  const args = command.length > 0 ? command : (defaults.args ?? []);
  if (args.length === 0) {
    throw new CollectiveError(
      "BAD_VALUE",
      `${c.path || c.name} has nothing to run: set its command parameter (the image has no entrypoint)`,
    );
  }
  const cpus = single(c, "cpus");
  const stop = single(c, "stoptimeout");
  const own = allocations.interfaces.filter((i) => i.component === c.path);
  // The default route: a gateway with a public interface routes out through it; everyone else through
  // its VAN's defaultroute (the gateway's inside address), and no interface routes through itself.
  const isGateway = own.some((i) => i.network === "public");
  const interfaces: MachineInterface[] = own.map((i) => {
    const attachment = allocations.topology.attachments.find(
      (a) => a.component === c.path && a.ifName === i.ifName,
    )!;
    let route: string | undefined;
    if (attachment.network.kind === "public") route = input.publicGateway;
    else if (!isGateway) route = input.defaultRoutes.get(attachment.network.van);
    return {
      network: i.network === "public" ? "public" : { vni: i.vni! },
      ifName: i.ifName,
      mac: i.mac,
      address: i.ip,
      prefixLength: i.prefixLength,
      ...(route && route !== i.ip ? { defaultRoute: route } : {}),
    };
  });
  return {
    spec: {
      id,
      programPath: input.program.path,
      stateDir: join(input.instanceDir, "machines", id),
      process: {
        args,
        ...(defaults.env ? { env: defaults.env } : {}),
        ...(defaults.workingDir ? { workingDir: defaults.workingDir } : {}),
        ...(defaults.user ? { user: defaults.user } : {}),
      },
      memoryMiB: memoryOf(c),
      ...(cpus !== undefined ? { cpus: Number(cpus) } : {}),
      capabilities: capabilities(c),
      dataDisks: dataDisks(c, join(input.instanceDir, "disks", id)),
      params: resolved.params,
      hostname: single(c, "name") ?? c.name,
      readiness: readiness(c),
      stopTimeoutSec: stop === undefined ? 180 : positiveInt(c, "stoptimeout", stop),
      restart: restartPolicy(c),
      ...sysctls(c),
    },
    interfaces,
  };
}
