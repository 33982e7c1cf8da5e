/**
 * Which network each interface of an evaluated appliance joins (paper, 3.5 and 5.1.1):
 *  - a machine appliance's vanIF interface (ethernet0 by default) joins the VAN it is a component of;
 *  - a VAN's exported interface (its vanIF, e.g. "f.ethernet1") joins the VAN enclosing that VAN, or the
 *    public network when the VAN is the root;
 *  - a root machine appliance (run on its own) gets a VAN of its own, as if wrapped in one.
 * Other interfaces are connected to nothing and are reported, since their addresses stay unassigned.
 */
import type { EvaluatedComponent, Evaluation } from "../cvl/index.js";
import { display } from "../cvl/values.js";
import { CollectiveError } from "../errors.js";

export type NetworkRef = { readonly kind: "van"; readonly van: string } | { readonly kind: "public" };

export interface Attachment {
  /** The component's path ("" for a root machine appliance). */
  readonly component: string;
  /** The interface's name inside the component ("ethernet0"). */
  readonly ifName: string;
  readonly network: NetworkRef;
}

export interface Topology {
  /** Paths of the networks to create: every VAN, plus "" for a root machine appliance. */
  readonly vans: readonly string[];
  readonly attachments: readonly Attachment[];
  /** Interfaces connected to nothing, as "component.ifName". */
  readonly unconnected: readonly string[];
}

export function interfacePath(component: string, ifName: string): string {
  return component === "" ? ifName : `${component}.${ifName}`;
}

function parentPath(path: string): string | undefined {
  if (path === "") return undefined;
  const dot = path.lastIndexOf(".");
  return dot < 0 ? "" : path.slice(0, dot);
}

function single(component: EvaluatedComponent, param: string): string | undefined {
  const value = component.params.get(param);
  return value && value.length === 1 ? display(value[0]!) : undefined;
}

export function planTopology(evaluation: Evaluation): Topology {
  const byPath = new Map(evaluation.components.map((c) => [c.path, c]));
  const root = byPath.get("")!;
  const vans = evaluation.components.filter((c) => c.kind === "van").map((c) => c.path);
  if (root.kind !== "van") vans.push("");
  const joined = new Map<string, Attachment>();
  const join = (component: string, ifName: string, network: NetworkRef, why: string) => {
    const key = interfacePath(component, ifName);
    const previous = joined.get(key);
    if (previous) {
      throw new CollectiveError(
        "TOPOLOGY",
        `the interface ${key} would join two networks: ${describe(previous.network)} and ${describe(network)} (${why})`,
        {
          hint: "a gateway needs one interface inside its VAN and another one to export: export a different interface",
        },
      );
    }
    joined.set(key, { component, ifName, network });
  };
  for (const c of evaluation.components) {
    if (c.kind === "van") continue;
    const ifName = single(c, "vanIF");
    if (ifName === undefined || !c.interfaces.includes(ifName)) continue; // reported by the evaluator
    let van = parentPath(c.path);
    while (van !== undefined && byPath.get(van)?.kind !== "van") van = parentPath(van);
    join(c.path, ifName, { kind: "van", van: van ?? "" }, `${c.path || c.name}'s vanIF`);
  }
  for (const v of evaluation.components) {
    if (v.kind !== "van") continue;
    const exported = single(v, "vanIF");
    if (exported === undefined) continue;
    const dot = exported.lastIndexOf(".");
    const relative = exported.slice(0, dot);
    const component = v.path === "" ? relative : `${v.path}.${relative}`;
    const ifName = exported.slice(dot + 1);
    let outer = parentPath(v.path);
    while (outer !== undefined && byPath.get(outer)?.kind !== "van") outer = parentPath(outer);
    const network: NetworkRef = outer === undefined ? { kind: "public" } : { kind: "van", van: outer };
    join(component, ifName, network, `exported by ${v.path || v.name}`);
  }
  const unconnected: string[] = [];
  for (const c of evaluation.components) {
    for (const ifName of c.interfaces) {
      if (!joined.has(interfacePath(c.path, ifName))) unconnected.push(interfacePath(c.path, ifName));
    }
  }
  return { vans, attachments: [...joined.values()], unconnected };
}

function describe(network: NetworkRef): string {
  return network.kind === "public" ? "the public network" : `the network of VAN ${network.van || "(root)"}`;
}
