import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

export function registerPool(program: Command): void {
  const pool = program
    .command("pool")
    .description(
      "the administrator's pools: network ids for VANs and public addresses for exported interfaces",
    )
    .addHelpText(
      "after",
      `
Each running VAN gets a network id from the vni pool, and the subnet 10.x.y.0/24 derived from it
(x.y = the id's two bytes; see docs/networking.md). An exported interface that joins no other VAN
gets an address from the public pool, a host-side network the host can reach. Defaults: vni
4096-8191 and public 10.15.255.0/24. The two must not overlap, and the public pool must not
contain addresses this host already reaches another way (its DNS servers, its networks).

Examples:
  cui pool list
  cui pool set vni 5000-5999
  cui pool set public 10.254.0.0/24`,
    );
  pool
    .command("list")
    .description("show the registered pools")
    .option("--json", "print as JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const pools = await (await clientFor(command)).call<{ vni: string; public: string }>(
        "GET",
        "/v1/pools",
      );
      if (options.json) printJson(pools);
      else process.stdout.write(`vni     ${pools.vni}\npublic  ${pools.public}\n`);
    });
  pool
    .command("set")
    .description("register the vni pool (FIRST-LAST) or the public pool (CIDR), replacing the previous one")
    .argument("<kind>", "vni or public")
    .argument("<spec>", "FIRST-LAST for vni, a.b.c.d/len for public")
    .action(async (kind: string, spec: string, _options: unknown, command: Command) => {
      if (kind !== "vni" && kind !== "public") {
        throw new CollectiveError("BAD_VALUE", `pool kind "${kind}" is not vni or public`, { exitCode: 2 });
      }
      const pools = await (await clientFor(command)).call<{ vni: string; public: string }>(
        "PUT",
        `/v1/pools/${kind}`,
        { spec },
      );
      process.stdout.write(`vni     ${pools.vni}\npublic  ${pools.public}\n`);
    });
}
