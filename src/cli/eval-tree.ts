/** The human form of `cui eval`: an indented tree of components with their parameters. */
import type { ComponentJson, EvaluationJson } from "../cvl/json.js";

function quote(s: string): string {
  return JSON.stringify(s);
}

export function renderTree(json: EvaluationJson): string {
  const lines: string[] = [];
  const byParent = new Map<string, ComponentJson[]>();
  for (const c of json.components) {
    if (c.path === "") continue;
    const parent = c.path.includes(".") ? c.path.slice(0, c.path.lastIndexOf(".")) : "";
    const list = byParent.get(parent) ?? [];
    list.push(c);
    byParent.set(parent, list);
  }
  const visit = (c: ComponentJson, indent: string) => {
    const label = c.path === "" ? json.appliance : c.name;
    lines.push(`${indent}${label}: ${c.type} (${c.kind})`);
    const pad = `${indent}    `;
    const names = Object.keys(c.params).sort();
    const width = Math.max(0, ...names.map((n) => n.length), ...c.sensitive.map((n) => n.length));
    for (const name of names) {
      const value = c.params[name]!;
      lines.push(
        `${pad}${name.padEnd(width)} = ${value.length === 0 ? "(empty)" : value.map(quote).join(", ")}`,
      );
    }
    for (const name of c.sensitive) lines.push(`${pad}${name.padEnd(width)} = (sensitive)`);
    for (const name of c.missing) lines.push(`${pad}${name.padEnd(width)}   (required, no value)`);
    for (const child of byParent.get(c.path) ?? []) visit(child, `${indent}  `);
  };
  const root = json.components.find((c) => c.path === "");
  if (root) visit(root, "");
  lines.push("");
  lines.push("start order:");
  json.startOrder.forEach((wave, i) => {
    lines.push(`  wave ${i + 1}: ${wave.join(", ")}`);
  });
  if (json.imports.length > 0) {
    lines.push("imports:");
    for (const i of json.imports) {
      lines.push(
        `  ${i.name} <- ${i.url}${i.version !== undefined ? ` (version ${i.version}${i.pinned ? ", pinned" : ""})` : ""}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
