/** Running appliances (mounts, namespaces, nft, runc) needs root; say so up front rather than fail later. */
import { type Check, result } from "./check.js";

export const rootCheck: Check = {
  name: "root",
  run: async (ctx) =>
    ctx.isRoot
      ? result("root", true, "ok", "running as root")
      : result(
          "root",
          true,
          "missing",
          `running as uid ${ctx.uid}: cui start, stop, daemon and most checks below need root`,
          "run as root: sudo cui doctor (and sudo for cui start, stop and daemon)",
        ),
};
