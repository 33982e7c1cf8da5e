/**
 * Start order from provides/requires (paper, section 3.6): the machine components of the whole tree form
 * a graph where a component that requires "DNS" starts after every component that provides "DNS". The
 * order is a list of waves; a wave's components start in parallel once the previous wave is ready. Stop
 * order is the reverse. Unmet requirements and cycles are errors before anything starts.
 */
import type { DiagnosticBag, Location } from "./diagnostics.js";
import type { EvaluatedComponent } from "./evaluator.js";

/** Where a component's requires was set (for pointing at it), or its declaration. */
export type Locate = (component: EvaluatedComponent, param: "requires" | "provides") => Location;

export function startWaves(
  components: readonly EvaluatedComponent[],
  diagnostics: DiagnosticBag,
  locate: Locate,
  /** "error" for a start; "warning" when checking a maker's appliance, whose VAN will provide it. */
  unmetSeverity: "error" | "warning" = "error",
): string[][] | undefined {
  const machines = components.filter((c) => c.kind !== "van");
  const providers = new Map<string, EvaluatedComponent[]>();
  for (const c of machines) {
    for (const service of c.provides) {
      const list = providers.get(service) ?? [];
      list.push(c);
      providers.set(service, list);
    }
  }
  const after = new Map<EvaluatedComponent, Set<EvaluatedComponent>>(); // component -> what it waits for
  let ok = true;
  for (const c of machines) {
    const waits = new Set<EvaluatedComponent>();
    for (const service of c.requires) {
      // A component that provides what it requires needs nothing else, and does not wait for itself.
      const by = (providers.get(service) ?? []).filter((p) => p !== c);
      if (!providers.has(service)) {
        if (unmetSeverity === "error") ok = false;
        const known = [...providers.keys()].sort();
        diagnostics.add(
          "CVL1405",
          locate(c, "requires"),
          `${label(c)} requires "${service}", which no component provides${known.length ? ` (provided: ${known.map((k) => `"${k}"`).join(", ")})` : ""}; add an appliance that provides it`,
          [],
          unmetSeverity,
        );
      }
      for (const p of by) waits.add(p);
    }
    after.set(c, waits);
  }
  if (!ok) return undefined;
  // Kahn's algorithm by levels; what remains afterwards is on or behind a cycle.
  const waves: string[][] = [];
  const done = new Set<EvaluatedComponent>();
  let remaining = machines;
  while (remaining.length > 0) {
    const wave = remaining.filter((c) => isSubset(after.get(c)!, done));
    if (wave.length === 0) {
      const cycle = findCycle(remaining, after);
      diagnostics.add(
        "CVL1404",
        locate(cycle[0]!, "requires"),
        `start dependencies form a cycle: ${[...cycle, cycle[0]!].map(label).join(" -> ")} (each requires what the next provides); no order can start them`,
      );
      return undefined;
    }
    for (const c of wave) done.add(c);
    waves.push(wave.map((c) => c.path).sort());
    remaining = remaining.filter((c) => !done.has(c));
  }
  return waves;
}

function isSubset<T>(items: ReadonlySet<T>, of: ReadonlySet<T>): boolean {
  for (const item of items) if (!of.has(item)) return false;
  return true;
}

function label(c: EvaluatedComponent): string {
  return c.path || c.name;
}

/** A cycle among the components left over, each waiting for the next. */
function findCycle(
  remaining: readonly EvaluatedComponent[],
  after: ReadonlyMap<EvaluatedComponent, ReadonlySet<EvaluatedComponent>>,
): EvaluatedComponent[] {
  const set = new Set(remaining);
  let current = remaining[0]!;
  const seen: EvaluatedComponent[] = [];
  while (!seen.includes(current)) {
    seen.push(current);
    current = [...after.get(current)!].find((d) => set.has(d))!;
  }
  return seen.slice(seen.indexOf(current));
}

/** Stop order: the start waves reversed. */
export function stopWaves(start: readonly string[][]): string[][] {
  return [...start].reverse().map((w) => [...w]);
}
