/** nft must run and the kernel must take a table: create a throwaway one with a unique name, then delete it. */
import { randomBytes } from "node:crypto";
import { type Check, firstLine, result, rootFirst, tryCommand } from "./check.js";

const name = "nftables";

export const nftablesCheck: Check = {
  name,
  run: async (ctx) => {
    const version = await tryCommand(ctx, ctx.commands.nft, ["--version"]);
    if (version.kind === "missing")
      return result(name, true, "missing", version.message, "apt-get install nftables");
    if (version.kind === "failed")
      return result(name, true, "broken", version.message, "apt-get install --reinstall nftables");
    const table = `cvdoctor${randomBytes(4).toString("hex")}`;
    const add = await tryCommand(ctx, ctx.commands.nft, ["add", "table", "inet", table]);
    if (add.kind !== "ok")
      return result(name, true, "broken", add.message, rootFirst(ctx, "modprobe nf_tables"));
    const del = await tryCommand(ctx, ctx.commands.nft, ["delete", "table", "inet", table]);
    if (del.kind !== "ok") {
      return result(
        name,
        true,
        "broken",
        `could not delete test table inet ${table}: ${del.message}`,
        `nft delete table inet ${table}`,
      );
    }
    return result(name, true, "ok", `${firstLine(version.result)}; a test table was created and deleted`);
  },
};
