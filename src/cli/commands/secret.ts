import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import { printJson } from "../output.js";

async function tools() {
  const [{ agentClient }, terminal, { resolve }] = await Promise.all([
    import("../../secrets/agent-client.js"),
    import("../../secrets/terminal.js"),
    import("node:path"),
  ]);
  return { client: agentClient(), resolve, ...terminal };
}

function usage(message: string): CollectiveError {
  return new CollectiveError("USAGE", message, { hint: "see 'cui secret --help'", exitCode: 2 });
}

/** Checks that `param` is a sensitive parameter of the file's appliance that takes a value of its own. */
async function checkDeclared(file: string, param: string, object: string | undefined): Promise<void> {
  const { evaluateFile } = await import("../../cvl/index.js");
  const { importResolver } = await import("../../import-resolver.js");
  const { sensitiveParams } = await import("../../secrets/needs.js");
  const { evaluation } = await evaluateFile(file, {
    resolver: importResolver(),
    ...(object ? { object } : {}),
  });
  if (!evaluation) {
    throw new CollectiveError(
      "SECRET_FILE_INVALID",
      `${file} has errors, so its sensitive parameters are not known`,
      {
        hint: `see them with 'cui check ${file}'${object ? "" : " (and pass --object when it defines several appliances)"}, or skip this check with --no-check`,
      },
    );
  }
  const all = sensitiveParams(evaluation.components);
  const found = all.find((p) => p.path === param);
  const own = all.filter((p) => p.sources.length === 1 && p.sources[0] === p.path).map((p) => p.path);
  const list = own.length === 0 ? "it has none" : `its sensitive parameters are: ${own.join(", ")}`;
  if (!found) {
    throw new CollectiveError("NOT_SENSITIVE", `${param} is not a sensitive parameter of ${file}; ${list}`, {
      hint: 'name a parameter declared with var "sensitive", by its dotted path from the root',
      exitCode: 2,
    });
  }
  if (!own.includes(param)) {
    throw new CollectiveError(
      "NOT_SENSITIVE",
      `${param} in ${file} takes its value from ${found.sources.join(", ")}; set ${found.sources.length === 1 ? "that" : "those"} instead`,
      { hint: list, exitCode: 2 },
    );
  }
}

export function registerSecret(program: Command): void {
  const secret = program
    .command("secret")
    .description("set, list and remove the values of sensitive parameters kept by the user agent")
    .addHelpText(
      "after",
      `
A sensitive parameter is named by its CVL file and its dotted path from the root appliance
(www.adminpw; rootpw for the root's own). Its value belongs to that appliance only, unless you
share it: 'cui secret set --scope NAME' keeps one value under the scope NAME for every parameter
of that name you link to it. The agent must run and be unlocked ('cui agent start', 'cui agent
unlock'). Values are never printed. See docs/secrets.md.

Examples:
  cui secret set acme.cvl www.adminpw
  cui secret set --scope ops acme.cvl www.adminpw
  cui secret list acme.cvl
  cui secret rm acme.cvl www.adminpw`,
    );

  secret
    .command("set")
    .description("give a sensitive parameter a value (from a prompt without echo, or from stdin)")
    .argument("<file.cvl>", "the CVL file of the appliance")
    .argument("<param-path>", "the parameter's dotted path from the root, e.g. www.adminpw")
    .option("--scope <name>", "share the value: keep it under this scope, and link the parameter to it")
    .option("--object <name>", "the file's appliance (when it defines several)")
    .option("--no-check", "do not evaluate the file to check that the parameter is sensitive")
    .addHelpText(
      "after",
      `
On a terminal the value is asked for twice, without echo. Otherwise it is all of stdin, less one
trailing newline. It is never taken from the command line or the environment.

The file is evaluated first to check that the parameter is declared "sensitive" and takes a value
of its own (not one passed down from another sensitive parameter); --no-check skips that, e.g. when
an imported repository is out of reach.

With --scope, the value is stored once under the scope and this parameter is linked to it: every
parameter linked to the same scope, in any file, gets the same value, and setting it again changes
it for all of them. Without --scope, the parameter gets a value of its own (dropping any link).

Examples:
  cui secret set acme.cvl www.adminpw
  cui secret set --scope acme-admin acme.cvl www.adminpw
  cui secret set --scope acme-admin staging.cvl www.adminpw     # the same value, linked
  pass show acme/ldap | cui secret set acme.cvl d.rootdnpass`,
    )
    .action(
      async (file: string, param: string, options: { scope?: string; object?: string; check?: boolean }) => {
        const { client, resolve, terminal, promptNew, valueFromStdin } = await tools();
        const { checkRef, checkScope } = await import("../../secrets/store.js");
        const ref = { file: resolve(file), param };
        checkRef(ref);
        if (options.scope !== undefined) checkScope(options.scope);
        // Fail on a locked or absent agent before asking for anything.
        const status = await client.request({ cmd: "status" });
        if (status.locked) {
          throw new CollectiveError("AGENT_LOCKED", "the user agent is locked", {
            hint: "unlock it with 'cui agent unlock'",
          });
        }
        if (options.check !== false) await checkDeclared(ref.file, param, options.object);
        const value = terminal.interactive()
          ? await promptNew(`value for ${param}: `, (q) => terminal.promptHidden(q))
          : valueFromStdin(await terminal.readStdin());
        const result = await client.request({
          cmd: "set",
          ref,
          value,
          ...(options.scope ? { scope: options.scope } : {}),
        });
        const where = options.scope ? ` (shared scope ${options.scope})` : "";
        const unlinked = result.unlinkedFrom ? `; it no longer uses scope ${result.unlinkedFrom}` : "";
        process.stderr.write(`cui secret: set ${param}${where} for ${ref.file}${unlinked}\n`);
      },
    );

  secret
    .command("list")
    .description("list the parameters that have a value (names only, never values)")
    .argument("[file.cvl]", "only this file's parameters")
    .option("--json", "print as JSON")
    .addHelpText(
      "after",
      `
Prints one line per parameter: its file, its path, and the shared scope it uses if any; then the
shared values by scope. With a file, only that file's parameters (and no shared values).

Examples:
  cui secret list
  cui secret list acme.cvl --json | jq -r '.params[].param'`,
    )
    .action(async (file: string | undefined, options: { json?: boolean }) => {
      const { client, resolve } = await tools();
      const listing = await client.request({ cmd: "list" });
      const only = file === undefined ? undefined : resolve(file);
      const params = [
        ...listing.values.map((v) => ({ file: v.file, param: v.param })),
        ...listing.links.map((l) => ({ file: l.file, param: l.param, scope: l.scope })),
      ]
        .filter((p) => only === undefined || p.file === only)
        .sort((a, b) => a.file.localeCompare(b.file) || a.param.localeCompare(b.param));
      const shared = only === undefined ? listing.shared : [];
      if (options.json) {
        printJson({ params, shared });
        return;
      }
      const lines = params.map((p) => `${p.file}  ${p.param}${"scope" in p ? `  (scope ${p.scope})` : ""}`);
      for (const s of shared) lines.push(`scope ${s.scope}  ${s.name}`);
      process.stdout.write(lines.length === 0 ? "" : `${lines.join("\n")}\n`);
      if (lines.length === 0) process.stderr.write("cui secret: no values stored\n");
    });

  secret
    .command("rm")
    .description("forget a parameter's value, or (with --scope) a shared value")
    .argument("<file.cvl|name>", "the CVL file; with --scope, the parameter name of the shared value")
    .argument("[param-path]", "the parameter's dotted path from the root")
    .option("--scope <name>", "remove the shared value of this scope (and every link to it)")
    .addHelpText(
      "after",
      `
Without --scope, removes the parameter's own value, or its link to a shared value (the shared
value stays). With --scope NAME, removes the shared value NAME holds for that parameter name, and
unlinks every parameter that used it. Removing what is not there is an error (exit status 1).

Examples:
  cui secret rm acme.cvl www.adminpw
  cui secret rm --scope acme-admin adminpw`,
    )
    .action(async (target: string, param: string | undefined, options: { scope?: string }) => {
      const { client, resolve } = await tools();
      let result: { removed: boolean; links?: number };
      let what: string;
      if (options.scope !== undefined) {
        if (param !== undefined)
          throw usage("with --scope, give only the parameter name: cui secret rm --scope NAME <name>");
        result = await client.request({ cmd: "rm-shared", scope: options.scope, name: target });
        what = `${target} of scope ${options.scope}`;
      } else {
        if (param === undefined)
          throw usage("give the CVL file and the parameter path: cui secret rm <file.cvl> <param-path>");
        const ref = { file: resolve(target), param };
        result = await client.request({ cmd: "rm", ref });
        what = `${param} for ${ref.file}`;
      }
      if (!result.removed) {
        throw new CollectiveError("SECRET_NOT_FOUND", `the user agent has no value for ${what}`, {
          hint: "see what it has with 'cui secret list'",
        });
      }
      const links = result.links ? ` (and ${result.links} link${result.links === 1 ? "" : "s"} to it)` : "";
      process.stderr.write(`cui secret: removed ${what}${links}\n`);
    });
}
