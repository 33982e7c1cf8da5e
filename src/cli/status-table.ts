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
      const forgotten = a.components.filter((c) => c.secrets === "forgotten").map((c) => c.path || "(root)");
      // The daemon restarted: these run, but could not be started again unattended (after a reboot).
      const note =
        forgotten.length > 0
          ? `note: the daemon no longer holds the sensitive values of ${forgotten.join(", ")}; they run, but a reboot would leave them stopped until 'cui start ${a.file}' gives the values again\n`
          : "";
      return `${a.name} (${a.file}): ${a.state}\n${table(["COMPONENT", "KIND", "STATE", "VERSION", "ADDRESSES", "SINCE", "RESTARTS"], rows)}${note}`;
    })
    .join("\n");
}
