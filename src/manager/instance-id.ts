/** An instance is one started CVL file (and object): its id is derived from both, so it is stable. */
import { createHash } from "node:crypto";

export function instanceId(file: string, object: string): string {
  return `i${createHash("sha256").update(`${file}\0${object}`).digest("hex").slice(0, 11)}`;
}
