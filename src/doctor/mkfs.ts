/** Data disks are formatted ext4 at first start. */
import { type Check, firstLine, result, tryCommand } from "./check.js";

const name = "mkfs.ext4";

export const mkfsCheck: Check = {
  name,
  run: async (ctx) => {
    const version = await tryCommand(ctx, ctx.commands.mkfsExt4, ["-V"]);
    switch (version.kind) {
      case "ok":
        return result(name, true, "ok", firstLine(version.result));
      case "missing":
        return result(name, true, "missing", version.message, "apt-get install e2fsprogs");
      case "failed":
        return result(name, true, "broken", version.message, "apt-get install --reinstall e2fsprogs");
    }
  },
};
