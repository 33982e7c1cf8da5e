/**
 * Does /dev/kvm actually work? Node cannot ioctl, so let qemu open it: start a machine-less, paused qemu
 * under -accel kvm. An error exit means the accelerator is broken; still running after the window means it
 * initialised, and it is stopped. Optional: VM appliances fall back to TCG.
 */
import { access, readFile } from "node:fs/promises";
import { type Check, result, tryCommand } from "./check.js";

const name = "kvm";
const qemuArgs = ["-accel", "kvm", "-M", "none", "-display", "none", "-nodefaults", "-no-user-config", "-S"];

export const kvmCheck: Check = {
  name,
  run: async (ctx) => {
    const device = ctx.files.kvm;
    const nested = /\bhypervisor\b/.test(await readFile(ctx.files.cpuinfo, "utf8").catch(() => ""))
      ? "; this host is itself a VM: nested KVM may hang guests, TCG is the fallback"
      : "; TCG is the fallback";
    const present = await access(device).then(
      () => true,
      () => false,
    );
    if (!present) {
      return result(
        name,
        false,
        "missing",
        `no ${device}: VM appliances would run under TCG (slow)`,
        "modprobe kvm_intel or kvm_amd (on a VM: enable nested virtualisation)",
      );
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ctx.kvmWindowMs);
    // The abort kills qemu (SIGTERM); exec's own timeout is only a backstop.
    const qemu = await tryCommand(ctx, ctx.commands.qemuSystem, qemuArgs, {
      signal: controller.signal,
      timeoutMs: ctx.kvmWindowMs + 5000,
    });
    clearTimeout(timer);
    if (controller.signal.aborted) {
      return result(
        name,
        false,
        "ok",
        `${device} usable: qemu ran under -accel kvm for ${ctx.kvmWindowMs} ms${nested}`,
      );
    }
    if (qemu.kind === "missing") {
      return result(
        name,
        false,
        "warning",
        `unknown (qemu not installed): ${device} is present${nested}`,
        "apt-get install qemu-system-x86 (to use and check KVM)",
      );
    }
    const why = qemu.kind === "failed" ? qemu.message : "qemu exited at once";
    return result(
      name,
      false,
      "broken",
      `${device} present but unusable: ${why}${nested}`,
      "check /dev/kvm permissions and the kvm_intel/kvm_amd module; VM appliances use TCG meanwhile",
    );
  },
};
