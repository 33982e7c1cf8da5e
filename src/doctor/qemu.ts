/** Optional tools: qemu-system for VM appliances, qemu-img for disk conversion. */
import { type Check, firstLine, result, tryCommand } from "./check.js";
import type { DoctorCommands } from "./context.js";

function toolCheck(name: string, command: keyof DoctorCommands, use: string, pkg: string): Check {
  return {
    name,
    run: async (ctx) => {
      const version = await tryCommand(ctx, ctx.commands[command], ["--version"]);
      if (version.kind === "ok") return result(name, false, "ok", firstLine(version.result));
      return result(
        name,
        false,
        version.kind === "missing" ? "missing" : "broken",
        `${version.message} (needed ${use})`,
        `apt-get install ${pkg}`,
      );
    },
  };
}

export const qemuSystemCheck = toolCheck(
  "qemu-system-x86_64",
  "qemuSystem",
  "for VM appliances",
  "qemu-system-x86",
);
export const qemuImgCheck = toolCheck("qemu-img", "qemuImg", "for disk conversion", "qemu-utils");
