/**
 * Extended attributes of a directory tree, read with getfattr (package attr): Node has no xattr API.
 * One getfattr run for the whole tree, not one per file.
 */
import { spawn } from "node:child_process";
import { CollectiveError } from "../errors.js";

/** Decodes getfattr's octal escapes (\012) in file names. */
function unescapeName(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\" && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      for (const b of Buffer.from(text[i]!, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Maps absolute path -> { name: base64 value } for every file under root that has extended attributes. */
export async function readTreeXattrs(root: string): Promise<Map<string, Record<string, string>>> {
  const result = new Map<string, Record<string, string>>();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      "getfattr",
      ["--absolute-names", "--physical", "-h", "-R", "-d", "-m", "-", "-e", "base64", "--", root],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.resume();
    child.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT"
          ? new CollectiveError(
              "TOOL_MISSING",
              "getfattr is not installed, so extended attributes cannot be read",
              {
                hint: "install the Debian package attr (apt-get install attr)",
              },
            )
          : error,
      ),
    );
    // getfattr exits 1 when some file has no attributes readable; its output is still complete.
    child.on("close", () => resolve(Buffer.concat(out).toString("utf8")));
  });
  let current: Record<string, string> | undefined;
  for (const line of output.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = {};
      result.set(unescapeName(line.slice(8)), current);
    } else if (current !== undefined && line.includes("=")) {
      const eq = line.indexOf("=");
      const value = line.slice(eq + 1);
      current[unescapeName(line.slice(0, eq))] = value.startsWith("0s")
        ? value.slice(2)
        : Buffer.from(value.replace(/^"|"$/g, "")).toString("base64");
    }
  }
  return result;
}
