/**
 * Fills an evaluated component's pending values with what the allocator handed out, without evaluating
 * the CVL again (the evaluator kept them symbolic for exactly this). Secret placeholders stay symbolic:
 * only the user agent knows their text, and it is delivered to the appliance separately.
 */
import type { EvaluatedComponent } from "../cvl/index.js";
import { type CvlString, display, hasPlaceholder, substitute } from "../cvl/values.js";

export interface ResolvedParams {
  /** Non-sensitive parameters with every allocated value filled in. */
  readonly params: Record<string, string[]>;
  /** Parameters still waiting for a value the utility did not allocate (an unconnected interface). */
  readonly unresolved: string[];
}

export function resolveParams(
  component: EvaluatedComponent,
  values: ReadonlyMap<string, string>,
): ResolvedParams {
  const params: Record<string, string[]> = {};
  const unresolved: string[] = [];
  for (const [name, value] of component.params) {
    if (component.sensitive.includes(name)) continue;
    const filled: CvlString[] = value.map((s) =>
      substitute(s, (p) => (p.kind === "pending" ? values.get(p.path) : undefined)),
    );
    if (filled.some((s) => hasPlaceholder(s, "pending"))) unresolved.push(name);
    params[name] = filled.map(display);
  }
  return { params, unresolved };
}
