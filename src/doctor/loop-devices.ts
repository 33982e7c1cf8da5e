/** Data disks are ext4 image files mounted through loop devices. */
import { access } from "node:fs/promises";
import { type Check, result, rootFirst, tryCommand } from "./check.js";

const name = "loop devices";

export const loopDevicesCheck: Check = {
  name,
  run: async (ctx) => {
    const control = ctx.files.loopControl;
    const present = await access(control).then(
      () => true,
      () => false,
    );
    if (!present) return result(name, true, "missing", `no ${control}`, "modprobe loop");
    // -f only asks for a free device: nothing is attached.
    const free = await tryCommand(ctx, ctx.commands.losetup, ["-f"]);
    switch (free.kind) {
      case "ok":
        return result(name, true, "ok", `${control}; next free: ${free.result.stdout.trim()}`);
      case "missing":
        return result(name, true, "missing", free.message, "apt-get install mount (it has losetup)");
      case "failed":
        return result(name, true, "broken", free.message, rootFirst(ctx, "modprobe loop"));
    }
  },
};
