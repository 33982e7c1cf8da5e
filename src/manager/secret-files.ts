/**
 * What a machine gets of the user's sensitive values: one file per sensitive parameter of the component
 * (/run/collective/secrets/NAME), its text the parameter's value with every secret placeholder filled in
 * from the values the CLI collected from the user agent. A parameter assigned from another sensitive one
 * (`db.password = rootpw;`) gets that one's value. A required one without a value is an error that names
 * every missing parameter; an optional one is simply not delivered.
 */
import type { StartMachineRequest } from "../agent/host-agent.js";
import type { EvaluatedComponent, Evaluation } from "../cvl/index.js";
import { hasPlaceholder, substitute } from "../cvl/values.js";
import { CollectiveError } from "../errors.js";

/** The values, by component path and then parameter name (as src/secrets/collect.ts gathers them). */
export type SecretValues = Readonly<Record<string, Readonly<Record<string, string>>>>;

function lookup(values: SecretValues | undefined, path: string): string | undefined {
  const dot = path.lastIndexOf(".");
  const component = dot < 0 ? "" : path.slice(0, dot);
  const param = dot < 0 ? path : path.slice(dot + 1);
  return values?.[component]?.[param];
}

function isRequired(c: EvaluatedComponent, name: string): boolean {
  return c.instance.cls.vars.get(name)?.required === true;
}

/** Secret files per machine component path; throws SECRETS_MISSING before anything has started. */
export function secretFiles(
  evaluation: Evaluation,
  values: SecretValues | undefined,
  file: string,
): Map<string, Record<string, Uint8Array>> {
  const out = new Map<string, Record<string, Uint8Array>>();
  const missing: string[] = [];
  for (const c of evaluation.components) {
    if (c.kind === "van") continue;
    const files: Record<string, Uint8Array> = {};
    for (const name of c.sensitive) {
      const value = c.params.get(name) ?? [];
      const filled = value.map((s) =>
        substitute(s, (p) => (p.kind === "secret" ? lookup(values, p.path) : undefined)),
      );
      if (filled.some((s) => hasPlaceholder(s, "secret"))) {
        if (isRequired(c, name)) missing.push(c.path === "" ? name : `${c.path}.${name}`);
        continue;
      }
      files[name] = Buffer.from(filled.map((s) => (typeof s === "string" ? s : "")).join("\n"));
    }
    if (Object.keys(files).length > 0) out.set(c.path, files);
  }
  if (missing.length > 0) {
    throw new CollectiveError(
      "SECRETS_MISSING",
      `${evaluation.appliance} (${file}) cannot start without ${missing.length === 1 ? "the value of its sensitive parameter" : "the values of its sensitive parameters"} ${missing.join(", ")}`,
      {
        hint: `'cui start' asks the user agent for them; set them with 'cui secret set ${file} ${missing[0]}'`,
      },
    );
  }
  return out;
}

/**
 * The daemon's memory of what each machine was given, so that a machine that must be started again
 * without its user (after a reboot) can be; never written anywhere. Lost when the daemon stops:
 * `cui status` then shows which machines need `cui start` again before such a restart.
 */
export class SecretKeeper {
  private readonly held = new Map<string, Record<string, Uint8Array>>();

  hold(machineId: string, files: Record<string, Uint8Array>): void {
    this.held.set(machineId, files);
  }

  get(machineId: string): Record<string, Uint8Array> | undefined {
    return this.held.get(machineId);
  }

  has(machineId: string): boolean {
    return this.held.has(machineId);
  }

  drop(machineId: string): void {
    const files = this.held.get(machineId);
    if (files) for (const bytes of Object.values(files)) bytes.fill(0);
    this.held.delete(machineId);
  }

  /** Names whose bytes differ between what the machine holds and `files`. */
  changed(machineId: string, files: Record<string, Uint8Array> | undefined): string[] {
    const old = this.held.get(machineId);
    // Not held (the daemon restarted, or it never had them): deliver what is given now.
    if (old === undefined) return Object.keys(files ?? {});
    const names = new Set([...Object.keys(old), ...Object.keys(files ?? {})]);
    return [...names].filter((n) => {
      const a = old[n];
      const b = files?.[n];
      return a === undefined || b === undefined || Buffer.compare(a, b) !== 0;
    });
  }
}

/** The request as stored: the names of its secret files, never their values. */
export function withSecretNames(
  request: StartMachineRequest,
  files: Record<string, Uint8Array> | undefined,
): StartMachineRequest {
  const names = Object.keys(files ?? {}).sort();
  return names.length > 0 ? { ...request, secretNames: names } : request;
}

/** The sensitive parameters whose values the user must give (the sources), and whether each is required. */
export function secretNeedsOf(
  evaluation: Evaluation,
): Array<{ component: string; param: string; required: boolean }> {
  const needs: Array<{ component: string; param: string; required: boolean }> = [];
  for (const c of evaluation.components) {
    for (const name of c.sensitive) {
      const own = c.path === "" ? name : `${c.path}.${name}`;
      const sources = (c.params.get(name) ?? []).flatMap((s) =>
        typeof s === "string" ? [] : s.parts.filter((p) => typeof p !== "string" && p.kind === "secret"),
      );
      // A source holds a placeholder for itself; one assigned from another sensitive parameter does not.
      if (sources.length === 1 && typeof sources[0] !== "string" && sources[0]!.path === own)
        needs.push({ component: c.path, param: name, required: isRequired(c, name) });
    }
  }
  return needs;
}
