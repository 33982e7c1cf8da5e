/**
 * The list of command modules, in the order `cui --help` shows them. Each exports `register(program)`.
 * Add a command by writing commands/<name>.ts and listing it here.
 */
import type { Command } from "commander";
import { registerAgent } from "./agent.js";
import { registerAttic } from "./attic.js";
import { registerAutoupdate } from "./autoupdate.js";
import { registerBlacklist } from "./blacklist.js";
import { registerChannel } from "./channel.js";
import { registerCheck } from "./check.js";
import { registerCreate } from "./create.js";
import { registerDaemon } from "./daemon.js";
import { registerDoctor } from "./doctor.js";
import { registerEval } from "./eval.js";
import { registerFmt } from "./fmt.js";
import { registerHistory } from "./history.js";
import { registerHost } from "./host.js";
import { registerLogs } from "./logs.js";
import { registerPlan } from "./plan.js";
import { registerPool } from "./pool.js";
import { registerPublish } from "./publish.js";
import { registerPull } from "./pull.js";
import { registerRepoServe } from "./repo-serve.js";
import { registerRepoVerify } from "./repo-verify.js";
import { registerRepoWithdraw } from "./repo-withdraw.js";
import { registerRollback } from "./rollback.js";
import { registerSecret } from "./secret.js";
import { registerSnapshots } from "./snapshots.js";
import { registerStart } from "./start.js";
import { registerStatus } from "./status.js";
import { registerStop } from "./stop.js";
import { registerUpdate } from "./update.js";
import { registerVersions } from "./versions.js";

export const commandModules: ReadonlyArray<(program: Command) => void> = [
  registerCheck,
  registerEval,
  registerFmt,
  registerCreate,
  registerPublish,
  registerVersions,
  registerRepoVerify,
  registerRepoWithdraw,
  registerRepoServe,
  registerPull,
  registerChannel,
  registerPlan,
  registerStart,
  registerStop,
  registerUpdate,
  registerRollback,
  registerHistory,
  registerAutoupdate,
  registerStatus,
  registerLogs,
  registerSnapshots,
  registerAttic,
  registerAgent,
  registerSecret,
  registerPool,
  registerHost,
  registerBlacklist,
  registerDaemon,
  registerDoctor,
];
