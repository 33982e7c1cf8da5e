/** The human form of `cui status`: one table per appliance. */
import type { StatusJson } from "../manager/manager.js";

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

export function renderStatus(status: StatusJson): string {
  return status.appliances
    .map((a) => {
      const rows = a.components.map((c) => [
        c.path || "(root)",
        c.kind,
        c.state,
        c.version === null ? "-" : String(c.version),
        Object.entries(c.interfaces)
          .map(([name, i]) => `${name}=${i.ip}`)
          .join(" ") || "-",
        c.since,
        String(c.restarts),
      ]);
      return `${a.name} (${a.file}): ${a.state}\n${table(["COMPONENT", "KIND", "STATE", "VERSION", "ADDRESSES", "SINCE", "RESTARTS"], rows)}`;
    })
    .join("\n");
}
