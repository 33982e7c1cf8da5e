import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import { clientFor } from "../daemon-client.js";
import { printJson } from "../output.js";

interface Capacity {
  id: string;
  memoryMiB: number;
  maxMachines: number;
  used?: { memoryMiB: number; machines: number };
}

function positive(value: string, field: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CollectiveError("BAD_VALUE", `${field} must be a positive integer, not "${value}"`, {
      exitCode: 2,
    });
  return n;
}

export function registerHost(program: Command): void {
  const host = program
    .command("host")
    .description("this host's capacity: memory and the maximum number of machine appliances");
  host
    .command("show")
    .description("show capacity and what is in use")
    .option("--json", "print as JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const c = await (await clientFor(command)).call<Capacity>("GET", "/v1/host");
      if (options.json) printJson(c);
      else {
        process.stdout.write(
          `memory        ${c.used?.memoryMiB ?? 0} of ${c.memoryMiB} MiB in use\nmachines      ${c.used?.machines ?? 0} of ${c.maxMachines}\n`,
        );
      }
    });
  host
    .command("set")
    .description("change the capacity a start is checked against")
    .option("--memory <MiB>", "memory appliances may use, in MiB")
    .option("--max-machines <n>", "most machine appliances at once")
    .addHelpText("after", "\nExample:\n  cui host set --memory 16384 --max-machines 100")
    .action(async (options: { memory?: string; maxMachines?: string }, command: Command) => {
      if (options.memory === undefined && options.maxMachines === undefined) {
        throw new CollectiveError("BAD_VALUE", "say what to change: --memory MIB and/or --max-machines N", {
          exitCode: 2,
        });
      }
      const body = {
        ...(options.memory !== undefined ? { memoryMiB: positive(options.memory, "--memory") } : {}),
        ...(options.maxMachines !== undefined
          ? { maxMachines: positive(options.maxMachines, "--max-machines") }
          : {}),
      };
      const c = await (await clientFor(command)).call<Capacity>("PATCH", "/v1/host", body);
      process.stdout.write(`memory ${c.memoryMiB} MiB, max machines ${c.maxMachines}\n`);
    });
}
