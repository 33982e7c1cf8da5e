/** The pure rules of the container driver: capabilities, container paths, spec checks, notify parsing, OCI spec. */
import { describe, expect, test } from "vitest";
import { baselineCapabilities, effectiveCapabilities, normalizeCapability } from "./capabilities.js";
import { checkContainerPath, checkHostPath, checkMountPoint } from "./container-path.js";
import type { MachineSpec } from "./driver.js";
import { instanceLayout } from "./instance-layout.js";
import { checkMachineSpec } from "./machine-spec-check.js";
import { hasReady } from "./notify-listener.js";
import { buildOciSpec } from "./oci-spec.js";
import { paramsJson } from "./parameter-files.js";
import { restartDelayMs } from "./restart-backoff.js";

const base: MachineSpec = {
  id: "web-1",
  programPath: "/var/cache/collective/trees/abc",
  stateDir: "/var/lib/collective/instances/web-1",
  process: { args: ["/usr/sbin/httpd", "-f"] },
  memoryMiB: 64,
};

describe("capabilities", () => {
  test("names are normalized and unknown ones refused", () => {
    expect(normalizeCapability("net_admin")).toBe("CAP_NET_ADMIN");
    expect(normalizeCapability("CAP_NET_RAW")).toBe("CAP_NET_RAW");
    expect(() => normalizeCapability("CAP_ROOT")).toThrow(/unknown capability/);
  });
  test("the effective set is the baseline plus what is declared, nothing else", () => {
    expect(effectiveCapabilities()).toEqual([...baselineCapabilities].sort());
    expect(effectiveCapabilities(["NET_ADMIN", "net_admin"])).toEqual(
      [...baselineCapabilities, "CAP_NET_ADMIN"].sort(),
    );
    expect(effectiveCapabilities()).not.toContain("CAP_SYS_ADMIN");
  });
});

describe("paths", () => {
  test("container paths must be absolute and normalized", () => {
    expect(checkContainerPath("/var/lib/db", "p")).toBe("/var/lib/db");
    for (const bad of ["var/lib", "/var/../etc", "/var//lib", "/var/lib/", "/./x", "/a\nb"]) {
      expect(() => checkContainerPath(bad, "p")).toThrow();
    }
  });
  test("mount points may not replace the root or sit on kernel or Collective mounts", () => {
    for (const bad of [
      "/",
      "/proc",
      "/proc/x",
      "/sys/fs",
      "/dev/shm",
      "/run/collective",
      "/run/collective/x",
    ]) {
      expect(() => checkMountPoint(bad, "m")).toThrow(/not valid/);
    }
    expect(checkMountPoint("/run/data", "m")).toBe("/run/data");
  });
  test("host paths may not carry mount option separators", () => {
    for (const bad of ["relative", "/a,b", "/a:b", "/a/../b", "/a\\b"])
      expect(() => checkHostPath(bad, "h")).toThrow();
  });
});

describe("machine spec", () => {
  test("a plain spec passes", () => {
    expect(() => checkMachineSpec(base)).not.toThrow();
  });
  test.each<[string, Partial<MachineSpec>]>([
    ["bad id", { id: "Web 1" }],
    ["no command", { process: { args: [] } }],
    ["tiny memory", { memoryMiB: 1 }],
    ["bad device", { dataDisks: [{ device: "../x", sizeMiB: 16, mount: "/data", imagePath: "/d/x.img" }] }],
    [
      "overlapping mounts",
      {
        dataDisks: [
          { device: "a", sizeMiB: 16, mount: "/data", imagePath: "/d/a.img" },
          { device: "b", sizeMiB: 16, mount: "/data/b", imagePath: "/d/b.img" },
        ],
      },
    ],
    ["secret name with a slash", { secrets: { "a/b": Buffer.from("x") } }],
    ["bad port", { readiness: { kind: "tcp", port: 70000 } }],
    ["bad restart policy", { restart: "sometimes" as never }],
    ["env name", { process: { args: ["x"], env: { "A=B": "c" } } }],
    ["host sysctl", { sysctls: { "kernel.panic": "1" } }],
  ])("refused: %s", (_, overrides) => {
    expect(() => checkMachineSpec({ ...base, ...overrides })).toThrow();
  });
});

describe("sd_notify and backoff", () => {
  test("READY=1 is recognized as one assignment among others", () => {
    expect(hasReady("STATUS=starting\nREADY=1\n")).toBe(true);
    expect(hasReady("READY=1")).toBe(true);
    expect(hasReady("STATUS=READY=1 soon")).toBe(false);
    expect(hasReady("READY=0\n")).toBe(false);
  });
  test("restart delays double up to the maximum", () => {
    const options = { initialMs: 100, maxMs: 500, resetAfterMs: 1000 };
    expect([0, 1, 2, 3, 10].map((streak) => restartDelayMs(options, streak))).toEqual([
      100, 200, 400, 500, 500,
    ]);
  });
});

describe("OCI spec", () => {
  test("no new privileges, only the given capabilities, memory limit, own namespaces, masked paths", () => {
    const spec = buildOciSpec({
      spec: { ...base, cpus: 0.5, readiness: { kind: "notify" } },
      layout: instanceLayout(base.stateDir),
      user: { uid: 1000, gid: 1000 },
      capabilities: ["CAP_KILL"],
      cgroupsPath: "/collective/web-1",
      diskSources: new Map(),
    }) as {
      process: {
        noNewPrivileges: boolean;
        capabilities: Record<string, string[]>;
        env: string[];
        user: unknown;
      };
      linux: {
        resources: { memory: { limit: number }; cpu: { quota: number } };
        namespaces: { type: string }[];
        maskedPaths: string[];
      };
      mounts: { destination: string; options: string[] }[];
    };
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.process.capabilities).toEqual({
      bounding: ["CAP_KILL"],
      effective: ["CAP_KILL"],
      permitted: ["CAP_KILL"],
    });
    expect(spec.process.user).toEqual({ uid: 1000, gid: 1000 });
    expect(spec.process.env).toContain("NOTIFY_SOCKET=/run/collective/status/notify.sock");
    expect(spec.linux.resources.memory.limit).toBe(64 * 1024 * 1024);
    expect(spec.linux.resources.cpu.quota).toBe(50_000);
    expect(spec.linux.namespaces.map((ns) => ns.type).sort()).toEqual([
      "ipc",
      "mount",
      "network",
      "pid",
      "uts",
    ]);
    expect(spec.linux.maskedPaths).toContain("/proc/kcore");
    const params = spec.mounts.find((mount) => mount.destination === "/run/collective/params.json");
    const secrets = spec.mounts.find((mount) => mount.destination === "/run/collective/secrets");
    expect(params?.options).toContain("ro");
    expect(secrets?.options).toContain("ro");
  });
  test("params.json lists every parameter as a list of strings, sorted", () => {
    expect(JSON.parse(paramsJson({ z: ["1"], "ethernet0.ip": ["10.0.0.2"] }))).toEqual({
      "ethernet0.ip": ["10.0.0.2"],
      z: ["1"],
    });
    expect(paramsJson({ b: [], a: [] }).indexOf('"a"')).toBeLessThan(
      paramsJson({ b: [], a: [] }).indexOf('"b"'),
    );
  });
});
