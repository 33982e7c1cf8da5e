/**
 * Which sensitive parameters of an evaluated appliance need a value from the user agent. A sensitive
 * parameter nobody assigns is a source: its value is a secret of its own. One assigned from another
 * sensitive parameter (`db.password = secret;`) carries that one's secret and needs nothing itself.
 */
import type { EvaluatedComponent } from "../cvl/index.js";
import { partsOf } from "../cvl/values.js";
import type { SecretNeed } from "./collect.js";

export interface SensitiveParam {
  readonly component: string;
  readonly param: string;
  /** The dotted path from the root ("www.adminpw"; "rootpw" for the root's own). */
  readonly path: string;
  /** The sensitive parameters whose secrets its value is made of (its own path when it is a source). */
  readonly sources: readonly string[];
}

export function sensitiveParams(components: readonly EvaluatedComponent[]): SensitiveParam[] {
  const out: SensitiveParam[] = [];
  for (const c of components) {
    for (const param of c.sensitive) {
      const path = c.path === "" ? param : `${c.path}.${param}`;
      const sources = new Set<string>();
      for (const s of c.params.get(param) ?? []) {
        for (const part of partsOf(s))
          if (typeof part !== "string" && part.kind === "secret") sources.add(part.path);
      }
      out.push({ component: c.path, param, path, sources: [...sources] });
    }
  }
  return out;
}

/** The parameters whose values the user agent must supply for `file`'s appliance (sources only). */
export function secretNeeds(file: string, components: readonly EvaluatedComponent[]): SecretNeed[] {
  return sensitiveParams(components)
    .filter((p) => p.sources.length === 1 && p.sources[0] === p.path)
    .map((p) => ({ file, component: p.component, param: p.param }));
}
