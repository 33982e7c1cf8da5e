/**
 * What publishing needs to know about a CVL file: which appliance it defines, of which kind, and the
 * paths of its image or VM descriptor and the devices of its data disks. Obtained from the CVL evaluator,
 * so a file that does not check cannot be published.
 */

import type { ImportResolver } from "../cvl/resolver.js";
import { CollectiveError } from "../errors.js";

export interface ApplianceDefinition {
  readonly name: string;
  readonly kind: "container" | "vm" | "van";
  readonly image?: string;
  readonly vm?: string;
  /** Device names of data disks (never stored). */
  readonly datadisks: string[];
}

/** A data disk value is a map "device=ide0%3A1&size=..." or, plainly, a device name. */
function dataDiskDevice(value: string): string {
  if (!value.includes("=")) return value;
  for (const pair of value.split("&")) {
    const eq = pair.indexOf("=");
    if (decodeURIComponent(pair.slice(0, eq)) === "device") return decodeURIComponent(pair.slice(eq + 1));
  }
  return value;
}

export async function readApplianceDefinition(
  cvlPath: string,
  options: { resolver?: ImportResolver; object?: string } = {},
): Promise<ApplianceDefinition> {
  const { evaluateFile } = await import("../cvl/index.js");
  const { formatDiagnostic } = await import("../cvl/diagnostics.js");
  let result: Awaited<ReturnType<typeof evaluateFile>>;
  try {
    result = await evaluateFile(cvlPath, {
      ...(options.resolver ? { resolver: options.resolver } : {}),
      ...(options.object ? { object: options.object } : {}),
    });
  } catch (error) {
    if (error instanceof CollectiveError) throw error;
    throw new CollectiveError("CVL_UNREADABLE", `cannot read ${cvlPath}: ${(error as Error).message}`);
  }
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (result.evaluation === undefined || errors.length > 0) {
    const text = errors.map((d) => formatDiagnostic(d)).join("\n");
    throw new CollectiveError(
      "CVL_INVALID",
      `${cvlPath} does not define a valid appliance${text ? `:\n${text}` : ""}`,
      {
        hint: "fix the errors (cui check shows them all), then publish again",
      },
    );
  }
  const root = result.evaluation.components[0];
  if (root === undefined) throw new CollectiveError("CVL_INVALID", `${cvlPath} defines no appliance`);
  const single = (param: string): string | undefined => {
    const value = root.params.get(param);
    if (value === undefined || value.length === 0) return undefined;
    const first = value[0];
    if (value.length !== 1 || typeof first !== "string") {
      throw new CollectiveError(
        "CVL_INVALID",
        `${cvlPath}: ${param} of ${root.name} must be one plain string`,
      );
    }
    return first;
  };
  const datadisks = (root.params.get("datadisks") ?? []).flatMap((v) =>
    typeof v === "string" ? [dataDiskDevice(v)] : [],
  );
  const definition: ApplianceDefinition = { name: result.evaluation.appliance, kind: root.kind, datadisks };
  if (root.kind === "container") {
    const image = single("image");
    if (image === undefined)
      throw new CollectiveError("CVL_INVALID", `${cvlPath}: container appliance ${root.name} has no image`);
    return { ...definition, image };
  }
  if (root.kind === "vm") {
    const vm = single("vm");
    if (vm === undefined)
      throw new CollectiveError("CVL_INVALID", `${cvlPath}: VM appliance ${root.name} has no vm`);
    return { ...definition, vm };
  }
  return definition;
}
