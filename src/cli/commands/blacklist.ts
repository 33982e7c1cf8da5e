import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import type { BlacklistEntry, ViolationReport } from "../../manager/blacklist.js";
import { clientFor } from "../daemon-client.js";
import { ExitCode, printJson } from "../output.js";

const GRAMMAR = `Versions:
  7        version 7
  3-5      versions 3, 4 and 5
  <4, <=4  every version before 4 / up to and including 4
  >4, >=4  every version after 4 / from 4 on, including versions not yet published
  all      every version`;

/** A repository as the daemon records it: paths made absolute here, where the user's directory is. */
async function repositoryArgument(location: string): Promise<string> {
  const { normaliseRepository } = await import("../../manager/blacklist.js");
  return normaliseRepository(location, process.cwd());
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [header, ...rows]
    .map(
      (row) =>
        `${row
          .map((c, i) => (c ?? "").padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

function entriesTable(entries: readonly BlacklistEntry[]): string {
  return table(
    ["ID", "REPOSITORY", "VERSIONS", "ADDED", "REASON"],
    entries.map((e) => [
      String(e.id),
      e.repository,
      e.versions,
      e.addedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      e.reason ?? "",
    ]),
  );
}

function violationsTable(report: ViolationReport): string {
  return table(
    ["FILE", "COMPONENT", "REPOSITORY", "VERSION", "ENTRY", "REASON"],
    report.violations.map((v) => [
      v.file,
      v.path || `(root: ${v.object})`,
      v.repository,
      String(v.version),
      v.entry ? `${v.entry.id} (${v.entry.versions})` : "withdrawn",
      v.entry ? (v.entry.reason ?? "") : v.reason,
    ]),
  );
}

async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export function registerBlacklist(program: Command): void {
  const blacklist = program
    .command("blacklist")
    .description("the administrator's blacklist: repository versions the utility refuses to run")
    .addHelpText(
      "after",
      `
An entry names a repository and a set of its versions. 'cui start' (and updates and rollbacks)
refuse a component whose program comes from a blacklisted version, with an error naming the entry
and its reason, before anything is allocated. Versions the publisher withdrew ('cui repo withdraw',
shown by 'cui versions') count as blacklisted, with the publisher's reason.

Components already running a version blacklisted later are not stopped silently: 'cui blacklist
violations' lists them, and 'cui blacklist violations --stop' stops them.

A repository is named as 'cui status --json' shows it: a path (made absolute, symbolic links
resolved), a file:// URL, or an http(s):// URL (a trailing slash does not matter).

${GRAMMAR}

Examples:
  cui blacklist add /srv/repos/dns 3-5 --reason "CVE-2026-1234: open resolver"
  cui blacklist add https://apps.example.org/web all --reason "vendor no longer trusted"
  cui blacklist list
  cui blacklist remove 4
  cui blacklist violations --stop`,
    );

  blacklist
    .command("add")
    .description("refuse versions of a repository from now on")
    .argument("<repo-url>", "the repository: a path, file://, http:// or https:// URL")
    .argument("<versions>", "N, N-M, <N, <=N, >N, >=N or all")
    .option("--reason <text>", "why (shown whenever the entry refuses something)")
    .option("--json", "print the entry as JSON")
    .addHelpText(
      "after",
      `
${GRAMMAR}

Running components are not affected; see 'cui blacklist violations'.

Examples:
  cui blacklist add examples/build/repos/dns 3 --reason "serves stale records"
  cui blacklist add https://apps.example.org/dns "<=7" --reason CVE-2026-1234`,
    )
    .action(
      async (
        location: string,
        versions: string,
        options: { reason?: string; json?: boolean },
        command: Command,
      ) => {
        const { parseVersionSpec } = await import("../../manager/blacklist.js");
        parseVersionSpec(versions);
        const repository = await repositoryArgument(location);
        const { entry } = await (await clientFor(command)).call<{ entry: BlacklistEntry }>(
          "POST",
          "/v1/blacklist",
          { repository, versions, ...(options.reason !== undefined ? { reason: options.reason } : {}) },
        );
        if (options.json) printJson(entry);
        else
          process.stdout.write(
            `blacklisted ${entry.repository} ${entry.versions} (entry ${entry.id})${entry.reason ? `: ${entry.reason}` : ""}\n`,
          );
      },
    );

  blacklist
    .command("remove")
    .description("lift an entry, by its id or by its repository and version spec")
    .argument("<id | repo-url>", "the entry's id (cui blacklist list), or its repository")
    .argument("[versions]", "with a repository: the entry's version spec, as listed")
    .addHelpText(
      "after",
      `
Examples:
  cui blacklist remove 4
  cui blacklist remove /srv/repos/dns 3-5`,
    )
    .action(async (what: string, versions: string | undefined, _options: unknown, command: Command) => {
      const client = await clientFor(command);
      let removed: BlacklistEntry;
      if (versions === undefined) {
        if (!/^[1-9][0-9]*$/.test(what)) {
          throw new CollectiveError(
            "BAD_VALUE",
            `"${what}" is not an entry id; to remove by repository, give its version spec too`,
            { hint: "cui blacklist remove ID, or cui blacklist remove REPO-URL VERSIONS", exitCode: 2 },
          );
        }
        ({ removed } = await client.call<{ removed: BlacklistEntry }>("DELETE", `/v1/blacklist/${what}`));
      } else {
        const { parseVersionSpec } = await import("../../manager/blacklist.js");
        parseVersionSpec(versions);
        const query = new URLSearchParams({ repository: await repositoryArgument(what), versions });
        ({ removed } = await client.call<{ removed: BlacklistEntry }>("DELETE", `/v1/blacklist?${query}`));
      }
      process.stdout.write(`removed entry ${removed.id}: ${removed.repository} ${removed.versions}\n`);
    });

  blacklist
    .command("list")
    .description("show the entries")
    .option("--json", "print as JSON")
    .addHelpText(
      "after",
      `
JSON (--json):
  { "entries": [ { "id", "repository", "versions", "reason", "addedAt" } ] }

Withdrawn versions are not listed here: 'cui versions REPO' shows them.`,
    )
    .action(async (options: { json?: boolean }, command: Command) => {
      const result = await (await clientFor(command)).call<{ entries: BlacklistEntry[] }>(
        "GET",
        "/v1/blacklist",
      );
      if (options.json) printJson(result);
      else if (result.entries.length === 0) process.stdout.write("the blacklist is empty\n");
      else process.stdout.write(entriesTable(result.entries));
    });

  blacklist
    .command("violations")
    .description("list running components whose version is blacklisted or withdrawn; --stop stops them")
    .option("--json", "print as JSON")
    .option("--stop", "stop the components listed (asks first on a terminal)")
    .option("--yes", "with --stop: do not ask")
    .addHelpText(
      "after",
      `
A violation is a component that should run (started and not stopped) whose program comes from a
version that is blacklisted now, or that its publisher has withdrawn since. The utility never stops
one by itself. --stop stops exactly the components listed, each as 'cui stop FILE COMPONENT' would
(a machine that is the whole appliance stops the appliance); their data disks stay. Without a
terminal, --stop needs --yes.

A repository that cannot be reached is reported: its components were checked against the
blacklist only, not for withdrawals. The exit status is 1 when a stop failed or was declined.

JSON (--json):
  { "violations": [ { "file", "instance", "object", "path", "repository", "version",
                      "entry": { "id", "repository", "versions", "reason", "addedAt" }, "reason" } ],
    "unchecked": [ { "repository", "error" } ] }
  (no "entry" for a withdrawn version; with --stop, "stopped" and "failed" are added)

Examples:
  cui blacklist violations
  cui blacklist violations --stop
  cui blacklist violations --stop --yes --json`,
    )
    .action(async (options: { json?: boolean; stop?: boolean; yes?: boolean }, command: Command) => {
      const client = await clientFor(command);
      const report = await client.call<ViolationReport>("GET", "/v1/blacklist/violations");
      const warn = () => {
        for (const u of report.unchecked)
          process.stderr.write(`warning: withdrawals of ${u.repository} not checked: ${u.error}\n`);
      };
      if (!options.stop || report.violations.length === 0) {
        if (options.json) printJson(report);
        else if (report.violations.length === 0) process.stdout.write("no violations\n");
        else process.stdout.write(violationsTable(report));
        warn();
        return;
      }
      if (!options.json) process.stdout.write(violationsTable(report));
      warn();
      if (!options.yes) {
        if (!process.stdin.isTTY) {
          throw new CollectiveError(
            "CONFIRMATION_NEEDED",
            `--stop would stop ${report.violations.length} component(s), and there is no terminal to ask`,
            { hint: "add --yes to stop them without asking", exitCode: 2 },
          );
        }
        if (!(await confirm(`stop these ${report.violations.length} component(s)?`))) {
          process.stderr.write("nothing stopped\n");
          process.exitCode = ExitCode.failed;
          return;
        }
      }
      const { ProgressView } = await import("../progress.js");
      const view = new ProgressView();
      const result = await client.operation<{
        stopped: Array<{ file: string; path: string }>;
        failed: Array<{ file: string; path: string; error: string }>;
      }>(
        "/v1/blacklist/violations/stop",
        { components: report.violations.map((v) => ({ file: v.file, path: v.path })) },
        (e) => view.update(e),
      );
      if (options.json) printJson({ ...report, ...result });
      else {
        process.stdout.write(
          `stopped ${result.stopped.length} component(s)${result.stopped.length ? `: ${result.stopped.map((s) => `${s.path || "(root)"} (${s.file})`).join(", ")}` : ""}\n`,
        );
        for (const f of result.failed)
          process.stderr.write(`error: could not stop ${f.path || "(root)"} (${f.file}): ${f.error}\n`);
      }
      process.exitCode = result.failed.length > 0 ? ExitCode.failed : ExitCode.ok;
    });
}
