/**
 * The list of command modules, in the order `cui --help` shows them. Each exports `register(program)`.
 * Add a command by writing commands/<name>.ts and listing it here.
 */
import type { Command } from "commander";
import { registerCheck } from "./check.js";
import { registerEval } from "./eval.js";


export const commandModules: ReadonlyArray<(program: Command) => void> = [registerCheck, registerEval];
