/**
 * The command modules, in the order `cui --help` shows them. Each exports `register(program)`; `name` is
 * the top-level command it adds, so that running one command loads only its module (main.ts: loading all
 * of them took 35-40 ms of every run). Add a command by writing commands/<name>.ts and listing it here.
 */
import type { Command } from "commander";

export interface CommandModule {
  /** The top-level command the module registers (several modules may add subcommands to one). */
  readonly name: string;
  readonly load: () => Promise<(program: Command) => void>;
}

export const commandModules: readonly CommandModule[] = [
  { name: "check", load: async () => (await import("./check.js")).registerCheck },
  { name: "eval", load: async () => (await import("./eval.js")).registerEval },
  { name: "fmt", load: async () => (await import("./fmt.js")).registerFmt },
  { name: "create", load: async () => (await import("./create.js")).registerCreate },
  { name: "publish", load: async () => (await import("./publish.js")).registerPublish },
  { name: "versions", load: async () => (await import("./versions.js")).registerVersions },
  { name: "repo", load: async () => (await import("./repo-verify.js")).registerRepoVerify },
  { name: "repo", load: async () => (await import("./repo-withdraw.js")).registerRepoWithdraw },
  { name: "repo", load: async () => (await import("./repo-serve.js")).registerRepoServe },
  { name: "pull", load: async () => (await import("./pull.js")).registerPull },
  { name: "channel", load: async () => (await import("./channel.js")).registerChannel },
  { name: "plan", load: async () => (await import("./plan.js")).registerPlan },
  { name: "start", load: async () => (await import("./start.js")).registerStart },
  { name: "stop", load: async () => (await import("./stop.js")).registerStop },
  { name: "update", load: async () => (await import("./update.js")).registerUpdate },
  { name: "rollback", load: async () => (await import("./rollback.js")).registerRollback },
  { name: "history", load: async () => (await import("./history.js")).registerHistory },
  { name: "autoupdate", load: async () => (await import("./autoupdate.js")).registerAutoupdate },
  { name: "status", load: async () => (await import("./status.js")).registerStatus },
  { name: "logs", load: async () => (await import("./logs.js")).registerLogs },
  { name: "snapshots", load: async () => (await import("./snapshots.js")).registerSnapshots },
  { name: "attic", load: async () => (await import("./attic.js")).registerAttic },
  { name: "agent", load: async () => (await import("./agent.js")).registerAgent },
  { name: "secret", load: async () => (await import("./secret.js")).registerSecret },
  { name: "pool", load: async () => (await import("./pool.js")).registerPool },
  { name: "host", load: async () => (await import("./host.js")).registerHost },
  { name: "blacklist", load: async () => (await import("./blacklist.js")).registerBlacklist },
  { name: "daemon", load: async () => (await import("./daemon.js")).registerDaemon },
  { name: "doctor", load: async () => (await import("./doctor.js")).registerDoctor },
];
