/**
 * The JSON form of an evaluation (`cui eval --json`), a public contract. Pending values show as
 * ${path.to.param} inside their strings; sensitive parameters appear only by name, never with a value.
 */
import type { Evaluation } from "./index.js";
import { display } from "./values.js";

export interface ComponentJson {
  path: string;
  name: string;
  type: string;
  kind: "van" | "vm" | "container";
  params: Record<string, string[]>;
  pending: string[];
  sensitive: string[];
  missing: string[];
  interfaces: string[];
  requires: string[];
  provides: string[];
}

export interface EvaluationJson {
  appliance: string;
  file: string;
  components: ComponentJson[];
  startOrder: string[][];
  imports: Array<{
    name: string;
    file: string;
    url: string;
    repository?: string;
    version?: number;
    pinned?: boolean;
  }>;
}

export function evaluationToJson(evaluation: Evaluation): EvaluationJson {
  return {
    appliance: evaluation.appliance,
    file: evaluation.file,
    components: evaluation.components.map((c) => {
      const params: Record<string, string[]> = {};
      for (const [name, value] of c.params) {
        if (c.sensitive.includes(name)) continue;
        params[name] = value.map(display);
      }
      return {
        path: c.path,
        name: c.name,
        type: c.type,
        kind: c.kind,
        params,
        pending: [...c.pending],
        sensitive: [...c.sensitive],
        missing: c.missing.map((m) => m.param),
        interfaces: [...c.interfaces],
        requires: [...c.requires],
        provides: [...c.provides],
      };
    }),
    startOrder: evaluation.startOrder.map((w) => [...w]),
    imports: evaluation.imports.map((i) => ({
      name: i.name,
      file: i.file,
      url: i.url,
      ...(i.origin
        ? { repository: i.origin.repository, version: i.origin.version, pinned: i.origin.pinned }
        : {}),
    })),
  };
}
