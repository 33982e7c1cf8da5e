import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { commandModules } from "./commands/index.js";
import { buildProgram } from "./main.js";

const everyCommand = [...new Set(commandModules.map((module) => module.name))];

describe("buildProgram: only the command being run is loaded", () => {
  it.each([
    ["a command", ["pull", "http://x/", "dest"], ["pull"]],
    ["a command after the program's --state-dir", ["--state-dir", "/tmp/s", "status"], ["status"]],
    ["a command after --state-dir=", ["--state-dir=/tmp/s", "check", "a.cvl"], ["check"]],
    ["a command whose modules share a parent", ["repo", "verify", "/srv/r"], ["repo"]],
    ["help on the program", ["--help"], everyCommand],
    ["the version", ["-V"], everyCommand],
    ["`help <command>`", ["help", "pull"], everyCommand],
    ["a mistyped command (commander then suggests one)", ["pul"], everyCommand],
    ["nothing", [], everyCommand],
  ])("%s", async (_what, argv, expected) => {
    const program = await buildProgram(argv);
    expect(program.commands.map((command) => command.name()).sort()).toEqual([...expected].sort());
  });

  it("registers every subcommand of a parent several modules add to", async () => {
    const program = await buildProgram(["repo", "serve", "/srv/r"]);
    const repo = program.commands.find((command) => command.name() === "repo");
    expect(repo?.commands.map((command) => command.name()).sort()).toEqual(["serve", "verify", "withdraw"]);
  });

  it.each(commandModules.map((module) => [module.name, module] as const))(
    "the table's name %s is the top-level command its module registers",
    async (name, module) => {
      const program = new Command("cui");
      (await module.load())(program);
      expect(program.commands.map((command) => command.name())).toEqual([name]);
    },
  );
});
