/** Container appliances run under runc only; crun, if present, is not used. */
import { type Check, firstLine, result, tryCommand } from "./check.js";

export const runcCheck: Check = {
  name: "runc",
  run: async (ctx) => {
    const [runc, crun] = await Promise.all([
      tryCommand(ctx, ctx.commands.runc, ["--version"]),
      tryCommand(ctx, ctx.commands.crun, ["--version"]),
    ]);
    const crunNote = crun.kind === "missing" ? "" : "; crun is installed but not used (Collective runs runc)";
    switch (runc.kind) {
      case "ok":
        return result("runc", true, "ok", `${firstLine(runc.result)}${crunNote}`);
      case "missing":
        return result("runc", true, "missing", `${runc.message}${crunNote}`, "apt-get install runc");
      case "failed":
        return result("runc", true, "broken", runc.message, "apt-get install --reinstall runc");
    }
  },
};
