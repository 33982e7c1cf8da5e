import { randomBytes } from "node:crypto";
import { open, readFile, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import type { DiagnosticBag } from "../../cvl/diagnostics.js";
import { ExitCode } from "../output.js";

export function registerFmt(program: Command): void {
  program
    .command("fmt")
    .description("rewrite CVL files in the canonical layout, or check that they are (--check)")
    .argument("<file.cvl...>", "CVL files to format; '-' reads stdin and writes the result to stdout")
    .option("--check", "write nothing: list the files that are not formatted, and exit 1 if there are any")
    .addHelpText(
      "after",
      `
Formats each file in place and prints the name of each file it changed. The layout is fixed, with
nothing to configure, so two people's edits differ only where they mean something different:

  - 2-space indentation, one statement or member per line, one blank line between top-level
    statements; blank lines inside a body are kept (several collapse to one);
  - single spaces around '=' and '=>' and after ',', none before ';';
  - a map stays on one line when its statement fits in 100 columns, otherwise one pair per line;
    an assignment of several values that does not fit puts each value on its own line;
    an import's map is always one pair per line;
  - strings are written with the escapes \\" \\\\ \\n \\t; comments are kept where they are, their text
    unchanged (but for trailing blanks); line ends become LF, and the file ends with one newline.

Formatting never changes what a file means: the result is parsed again and compared with the
original before anything is written. A file with syntax errors is not changed; its errors are printed
as 'cui check' prints them. Files are replaced atomically (a temporary file, then a rename), so an
interrupted run leaves each file either as it was or formatted.

Exit status: 0 when every file is formatted (or, with --check, already was); 1 when a file has
syntax errors or cannot be read or written, or, with --check, when a file is not formatted;
2 on a usage error.

Examples:
  cui fmt acme.cvl                  format acme.cvl in place
  cui fmt --check *.cvl             list the files that need formatting (for CI)
  cui fmt - < acme.cvl > out.cvl    format stdin to stdout`,
    )
    .action(async (files: string[], options: { check?: boolean }) => {
      process.exitCode = (await formatFiles(files, options.check === true)) ? ExitCode.ok : ExitCode.failed;
    });
}

/** Formats (or checks) each file in turn, reporting problems per file; returns whether all went well. */
async function formatFiles(files: readonly string[], check: boolean): Promise<boolean> {
  const { formatCvl } = await import("../../cvl/format.js");
  const { decodeSource } = await import("../../cvl/loader.js");
  const { DiagnosticBag } = await import("../../cvl/diagnostics.js");
  const { printDiagnostics } = await import("../diagnostics-output.js");
  let ok = true;
  let unformatted = 0;
  for (const path of files) {
    const stdin = path === "-";
    const name = stdin ? "<stdin>" : path;
    const bag = new DiagnosticBag();
    const bytes = stdin ? await readStdin() : await readBytes(path, bag);
    const source = bytes && decodeSource(bytes, name, bag);
    let result: ReturnType<typeof formatCvl> | undefined;
    try {
      result = source && formatCvl(source);
    } catch (error) {
      // The formatter's own check failed: a bug. Say so, leave the file alone, and go on with the others.
      const message = (error as Error).message;
      process.stderr.write(`error: ${message}\n  this is a bug in cui; please report it with the file\n`);
      ok = false;
      continue;
    }
    if (!bytes || result?.text === undefined) {
      printDiagnostics(result?.diagnostics ?? bag.items);
      ok = false;
      continue;
    }
    // Compare bytes, not text: a byte-order mark or CRLF line ends are changes too.
    const changed = !Buffer.from(result.text).equals(bytes);
    if (stdin && !check) {
      process.stdout.write(result.text);
      continue;
    }
    if (!changed) continue;
    if (check) {
      unformatted++;
      process.stdout.write(`${name}\n`);
      continue;
    }
    try {
      await writeAtomically(path, result.text);
      process.stdout.write(`${name}\n`);
    } catch (error) {
      process.stderr.write(`error: cannot write ${path}: ${(error as Error).message}\n`);
      ok = false;
    }
  }
  if (unformatted > 0) {
    const files = unformatted === 1 ? "1 file is" : `${unformatted} files are`;
    process.stderr.write(
      `${files} not formatted; run 'cui fmt' on ${unformatted === 1 ? "it" : "them"} to fix\n`,
    );
  }
  return ok && unformatted === 0;
}

async function readBytes(path: string, diagnostics: DiagnosticBag): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    const { createSourceFile } = await import("../../cvl/diagnostics.js");
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory, not a CVL file"
          : code === "EACCES"
            ? "permission denied"
            : (code ?? String(error));
    diagnostics.add(
      "CVL1001",
      { file: createSourceFile(path, ""), start: 0, length: 0 },
      `cannot read the file: ${reason}`,
    );
    return undefined;
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Replaces a file's contents atomically: writes a temporary file beside it, flushes it, then renames it
 * over the original, so a crash leaves the old file or the new one, never half of one. Symbolic links
 * are followed (the link stays a link), and the file keeps its permissions (and owner, when run as root).
 */
async function writeAtomically(path: string, text: string): Promise<void> {
  const target = await realpath(path);
  const info = await stat(target);
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(text);
      await handle.chmod(info.mode & 0o7777);
      if (process.getuid?.() === 0) await handle.chown(info.uid, info.gid);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
