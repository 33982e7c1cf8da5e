/**
 * How the CLI reads passwords and values: from a prompt that does not echo when stdin is a terminal, from
 * stdin otherwise. Never from argv or the environment, which other users can read in /proc. The functions
 * sit on one object so tests can stand in for the terminal.
 */
import { CollectiveError } from "../errors.js";

const MAX_STDIN_BYTES = 1024 * 1024;

export const terminal = {
  /** Whether we can prompt: stdin is a terminal. */
  interactive(): boolean {
    return Boolean(process.stdin.isTTY);
  },

  /** Asks on stderr and reads a line from the terminal without echoing it. */
  promptHidden(question: string): Promise<string> {
    if (!process.stdin.isTTY) {
      return Promise.reject(
        new CollectiveError("NO_TERMINAL", "there is no terminal to ask on (stdin is not a terminal)", {
          hint: "run the command on a terminal, or give the input on stdin where the command allows it",
        }),
      );
    }
    return promptHidden(question, process.stdin, process.stderr);
  },

  /** All of stdin, as text. */
  readStdin(): Promise<string> {
    return readAll(process.stdin);
  },
};

function cancelled(): CollectiveError {
  return new CollectiveError("CANCELLED", "cancelled", { exitCode: 130 });
}

export function promptHidden(
  question: string,
  input: NodeJS.ReadStream,
  output: NodeJS.WritableStream,
): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(question);
    let value = "";
    const finish = (fn: () => void) => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      output.write("\n");
      fn();
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of typeof chunk === "string" ? chunk : chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return finish(() => resolve(value));
        if (ch === "\u0003") return finish(() => reject(cancelled()));
        if (ch === "\u0004") {
          if (value === "") return finish(() => reject(cancelled()));
          return finish(() => resolve(value));
        }
        if (ch === "\u007f" || ch === "\b") value = [...value].slice(0, -1).join("");
        else if (ch === "\u0015") value = "";
        else if (ch >= " ") value += ch;
      }
    };
    input.setRawMode(true);
    input.setEncoding("utf8");
    input.on("data", onData);
    input.resume();
  });
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > MAX_STDIN_BYTES) {
      throw new CollectiveError("STDIN_TOO_LARGE", `stdin holds more than ${MAX_STDIN_BYTES} bytes`, {
        hint: "pipe in the value (or the password) only",
      });
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The first lines of stdin (for --password-stdin: the password, or the old and the new one). */
export async function stdinLines(count: number, what: string): Promise<string[]> {
  const lines = (await terminal.readStdin()).split(/\r?\n/);
  const wanted = lines.slice(0, count);
  if (wanted.length < count || wanted.some((l) => l === "")) {
    throw new CollectiveError("BAD_PASSWORD", `--password-stdin expects ${what} on stdin, one per line`, {
      exitCode: 2,
    });
  }
  return wanted;
}

/** A value from stdin: everything, less one trailing newline (what `echo` and most files add). */
export function valueFromStdin(text: string): string {
  return text.replace(/\r?\n$/, "");
}

/**
 * Asks for a new secret twice (a typo in a password nobody sees would otherwise be stored); three tries.
 */
export async function promptNew(
  question: string,
  prompt: (question: string) => Promise<string>,
  what = "value",
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const first = await prompt(question);
    if (first === "") {
      say(`the ${what} is empty; type it again`);
      continue;
    }
    const second = await prompt("again, to confirm: ");
    if (first === second) return first;
    say(`the two did not match; type the ${what} again`);
  }
  throw new CollectiveError("CANCELLED", `no ${what} after three tries`, { exitCode: 130 });
}
