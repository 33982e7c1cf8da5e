/**
 * Where a machine component's program comes from. An `image` set in a file of a repository version
 * names a program disk of that version, fetched into the host cache; an `image` set in a local file is a
 * root filesystem directory relative to that file (for makers trying an appliance before publishing it).
 */
import { stat } from "node:fs/promises";
import { dirname, relative, resolve, sep } from "node:path";
import { type EvaluatedComponent, valueSource } from "../cvl/index.js";
import { display } from "../cvl/values.js";
import { CollectiveError } from "../errors.js";
import type { ProgramInfo } from "./machine-request.js";

export interface ProgramSource {
  /** The program tree for a machine component, fetched and verified if it comes from a repository. */
  prepare(component: EvaluatedComponent): Promise<ProgramInfo & { repository?: string; version?: number }>;
}

/** Repository programs, implemented by the host cache (see cache/). */
export interface RepositoryPrograms {
  prepare(repository: string, version: number, image: string): Promise<ProgramInfo>;
}

export class Programs implements ProgramSource {
  constructor(private readonly repositories: RepositoryPrograms | undefined) {}

  async prepare(
    component: EvaluatedComponent,
  ): Promise<ProgramInfo & { repository?: string; version?: number }> {
    const where = component.path || component.name;
    if (component.kind === "vm") {
      throw new CollectiveError(
        "NOT_SUPPORTED",
        `${where} is a VM appliance; this host runs container appliances only so far`,
        {
          hint: "VM appliances under qemu come with a later version",
        },
      );
    }
    const image = component.params.get("image");
    if (image?.length !== 1) {
      throw new CollectiveError(
        "BAD_VALUE",
        `${where}.image must be one path (it has ${image?.length ?? 0} values)`,
      );
    }
    const path = display(image[0]!);
    const source = valueSource(component, "image")!;
    if (source.origin) {
      if (!this.repositories) {
        throw new CollectiveError(
          "NOT_SUPPORTED",
          `${where} comes from ${source.origin.repository}, but this host has no repository cache`,
        );
      }
      const program = await this.repositories.prepare(source.origin.repository, source.origin.version, path);
      return { ...program, repository: source.origin.repository, version: source.origin.version };
    }
    const base = dirname(source.location);
    const tree = resolve(base, path);
    const inside = relative(base, tree);
    if (inside === ".." || inside.startsWith(`..${sep}`) || resolve(base, inside) !== tree) {
      throw new CollectiveError(
        "BAD_VALUE",
        `${where}.image "${path}" leaves the directory of ${source.location}`,
        {
          hint: "an image path is relative to its CVL file and stays below it",
        },
      );
    }
    const info = await stat(tree).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new CollectiveError(
        "BAD_VALUE",
        `${where}.image "${path}" is ${info ? "not a directory" : "missing"} (${tree}); a local appliance's image is a root filesystem directory`,
        {
          hint: "build it (examples/build-appliances.sh for the examples), or publish the appliance to a repository and import it from there",
        },
      );
    }
    return { path: tree };
  }
}
