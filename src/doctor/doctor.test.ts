import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cgroupsCheck } from "./cgroups.js";
import type { CheckResult } from "./check.js";
import { type DoctorOptions, doctorContext } from "./context.js";
import { runDoctor } from "./doctor.js";
import { kvmCheck } from "./kvm.js";
import { loopDevicesCheck } from "./loop-devices.js";
import { networkCheck } from "./network.js";
import { overlayfsCheck } from "./overlayfs.js";
import { rootCheck } from "./root.js";
import { stateDirCheck } from "./state-dir.js";
import { doctorLeftovers, nothingLeft, writeFakeBinary } from "./test-kit.js";

let dir: string;
let stateDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cui-doctor-test-"));
  stateDir = join(dir, "state");
  mkdirSync(stateDir);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const byName = (checks: readonly CheckResult[], name: string) => checks.find((c) => c.name === name)!;
const one = async (
  check: { run: (ctx: ReturnType<typeof doctorContext>) => Promise<unknown> },
  options: Partial<DoctorOptions> = {},
) => (await check.run(doctorContext({ stateDir, ...options }))) as CheckResult;

describe("runDoctor on this machine", () => {
  it("passes every required check and leaves nothing behind", async () => {
    const report = await runDoctor({ stateDir });
    expect(report.checks.map((c) => c.name)).toEqual([
      "root",
      "runc",
      "namespaces",
      "overlayfs",
      "loop devices",
      "iproute2",
      "network namespaces",
      "bridges",
      "veth pairs",
      "vxlan",
      "tap devices",
      "firewall rules",
      "nftables",
      "cgroups",
      "mkfs.ext4",
      "kvm",
      "qemu-system-x86_64",
      "qemu-img",
      "state directory",
      "disk space",
    ]);
    expect(report.checks.filter((c) => c.required && c.status !== "ok")).toEqual([]);
    expect(report.ok).toBe(true);
    for (const check of report.checks) {
      expect(Object.keys(check).sort()).toEqual(["detail", "fix", "name", "required", "status"]);
      expect(check.fix === null).toBe(check.status === "ok");
    }
    // The overlay test ran in the (writable) state dir, where appliance layers will live.
    expect(byName(report.checks, "overlayfs").detail).toContain(stateDir);
    expect(await doctorLeftovers([stateDir])).toEqual(nothingLeft);
  });
});

describe("failure paths, with fakes injected", () => {
  it("an empty fake PATH: every tool is missing, and each fix names its Debian package", async () => {
    const fakeBin = join(dir, "fake-bin");
    mkdirSync(fakeBin);
    writeFakeBinary(fakeBin, "runc", 'echo "FAKE runc: broken on purpose" >&2; exit 1');
    const probeNetwork = vi.fn(async () => []);
    const report = await runDoctor({ stateDir, path: fakeBin, probeNetwork });
    const fixOf = (name: string) => [byName(report.checks, name).status, byName(report.checks, name).fix];
    expect(report.ok).toBe(false);
    expect(byName(report.checks, "runc")).toMatchObject({
      status: "broken",
      detail: expect.stringContaining("FAKE runc"),
    });
    expect(fixOf("nftables")).toEqual(["missing", "apt-get install nftables"]);
    expect(fixOf("mkfs.ext4")).toEqual(["missing", "apt-get install e2fsprogs"]);
    expect(fixOf("iproute2")).toEqual(["missing", "apt-get install iproute2"]);
    expect(fixOf("vxlan")).toEqual(["missing", "apt-get install iproute2"]);
    expect(fixOf("overlayfs")).toEqual(["missing", "apt-get install mount"]);
    expect(fixOf("loop devices")).toEqual(["missing", "apt-get install mount (it has losetup)"]);
    expect(fixOf("qemu-img")).toEqual(["warning", "apt-get install qemu-utils"]);
    expect(fixOf("qemu-system-x86_64")).toEqual(["warning", "apt-get install qemu-system-x86"]);
    // No ip, so the network probe is not even tried.
    expect(probeNetwork).not.toHaveBeenCalled();
    expect(await doctorLeftovers([stateDir])).toEqual(nothingLeft);
  });

  it("a missing runc binary name is reported missing", async () => {
    const runc = await one((await import("./runc.js")).runcCheck, {
      commands: { runc: "fake-runc-not-installed" },
    });
    expect(runc).toMatchObject({ status: "missing", required: true, fix: "apt-get install runc" });
  });

  it("no loop-control device: modprobe loop", async () => {
    const loop = await one(loopDevicesCheck, {
      files: { loopControl: join(dir, "fake-loop-control-absent") },
    });
    expect(loop).toMatchObject({ status: "missing", fix: "modprobe loop" });
  });

  it("overlay not in the kernel's list and the mount fails: modprobe overlay, and no temp dir left", async () => {
    const filesystems = join(dir, "fake-proc-filesystems");
    writeFileSync(filesystems, "nodev\tproc\n\text4\n");
    const mount = writeFakeBinary(
      dir,
      "fake-mount",
      "echo \"FAKE mount: unknown filesystem type 'overlay'\" >&2; exit 32",
    );
    const overlay = await one(overlayfsCheck, {
      files: { procFilesystems: filesystems },
      commands: { mount },
    });
    expect(overlay).toMatchObject({ status: "missing", fix: "modprobe overlay" });
    expect(overlay.detail).toContain("FAKE mount");
    expect(await doctorLeftovers([stateDir])).toEqual(nothingLeft);
  });

  it("network features the probe reports failing get their modprobe fixes; tap is optional", async () => {
    const probeNetwork = async () => [
      { feature: "network namespaces", ok: true },
      { feature: "bridge", ok: true },
      { feature: "veth", ok: true },
      { feature: "vxlan", ok: false, detail: "FAKE probe: Unknown device type" },
      { feature: "tap", ok: false, detail: "FAKE probe: no /dev/net/tun" },
      { feature: "nftables", ok: true },
    ];
    const checks = (await networkCheck.run(doctorContext({ stateDir, probeNetwork }))) as CheckResult[];
    expect(byName(checks, "vxlan")).toMatchObject({
      status: "broken",
      required: true,
      fix: "modprobe vxlan",
    });
    expect(byName(checks, "tap devices")).toMatchObject({
      status: "warning",
      required: false,
      fix: "modprobe tun",
    });
    expect(byName(checks, "bridges").status).toBe("ok");
  });

  it("cgroups: reports v2, and a v2 without the memory controller is broken", async () => {
    const hierarchy = join(dir, "fake-cgroup2");
    mkdirSync(hierarchy);
    const mounts = join(dir, "fake-proc-mounts");
    writeFileSync(mounts, `proc /proc proc rw 0 0\ncgroup2 ${hierarchy} cgroup2 rw,nsdelegate 0 0\n`);
    writeFileSync(join(hierarchy, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    expect(await one(cgroupsCheck, { files: { procMounts: mounts } })).toMatchObject({
      status: "ok",
      detail: `v2 at ${hierarchy}; memory controller available`,
    });
    writeFileSync(join(hierarchy, "cgroup.controllers"), "cpuset cpu io pids\n");
    const broken = await one(cgroupsCheck, { files: { procMounts: mounts } });
    expect(broken).toMatchObject({ status: "broken", fix: expect.stringContaining("cgroup_enable=memory") });
  });

  it("kvm: a fake qemu that keeps running means usable, and it is stopped afterwards", async () => {
    const pidFile = join(dir, "fake-qemu.pid");
    const qemuSystem = writeFakeBinary(dir, "fake-qemu-system", `echo $$ > ${pidFile}; exec sleep 30`);
    const kvm = join(dir, "fake-dev-kvm");
    writeFileSync(kvm, "");
    const check = await one(kvmCheck, { commands: { qemuSystem }, files: { kvm }, kvmWindowMs: 300 });
    expect(check).toMatchObject({ status: "ok", required: false });
    expect(check.detail).toContain("usable");
    const pid = Number(readFileSync(pidFile, "utf8"));
    await expect.poll(() => isRunning(pid), { timeout: 3000 }).toBe(false);
  });

  it("kvm: a fake qemu that fails to open the accelerator is a warning with the reason", async () => {
    const qemuSystem = writeFakeBinary(
      dir,
      "fake-qemu-system",
      'echo "FAKE qemu: Could not access KVM kernel module" >&2; exit 1',
    );
    const kvm = join(dir, "fake-dev-kvm");
    writeFileSync(kvm, "");
    const check = await one(kvmCheck, { commands: { qemuSystem }, files: { kvm } });
    expect(check).toMatchObject({
      status: "warning",
      required: false,
      detail: expect.stringContaining("FAKE qemu"),
    });
  });

  it("kvm without qemu is unknown; without /dev/kvm it is missing (a warning)", async () => {
    const kvm = join(dir, "fake-dev-kvm");
    writeFileSync(kvm, "");
    const unknown = await one(kvmCheck, {
      commands: { qemuSystem: "fake-qemu-not-installed" },
      files: { kvm },
    });
    expect(unknown.detail).toMatch(/^unknown \(qemu not installed\)/);
    const absent = await one(kvmCheck, { files: { kvm: join(dir, "fake-kvm-absent") } });
    expect(absent).toMatchObject({ status: "warning", fix: expect.stringContaining("modprobe kvm_intel") });
  });

  it("not root: says which commands need it", async () => {
    const root = await one(rootCheck, { uid: 1000 });
    expect(root).toMatchObject({ status: "missing", required: true });
    expect(root.detail).toContain("cui start, stop, daemon");
    expect(root.fix).toContain("sudo");
  });

  it("a state dir that cannot be created (under a regular file) is broken", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    const check = await one(stateDirCheck, { stateDir: join(file, "state") });
    expect(check).toMatchObject({ status: "broken", detail: `${file} is not a directory` });
  });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
