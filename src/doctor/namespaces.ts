/** Every appliance gets its own network, pid and mount namespace; the kernel shows which it has here. */
import { readlink } from "node:fs/promises";
import { join } from "node:path";
import { type Check, result } from "./check.js";

const needed = ["net", "pid", "mnt"] as const;

export const namespacesCheck: Check = {
  name: "namespaces",
  run: async (ctx) => {
    const found = await Promise.all(
      needed.map((kind) =>
        readlink(join(ctx.files.namespaces, kind)).then(
          () => true,
          () => false,
        ),
      ),
    );
    const absent = needed.filter((_, i) => !found[i]);
    if (absent.length === 0)
      return result("namespaces", true, "ok", `${needed.join(", ")} in ${ctx.files.namespaces}`);
    return result(
      "namespaces",
      true,
      "missing",
      `no ${absent.join(", ")} namespace in ${ctx.files.namespaces}`,
      "a kernel with CONFIG_NAMESPACES, CONFIG_NET_NS and CONFIG_PID_NS",
    );
  },
};
