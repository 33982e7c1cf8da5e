import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { promptHidden, valueFromStdin } from "./terminal.js";

/** A stand-in terminal: raw mode is recorded, typed keys are written to it. */
function fakeTerminal() {
  const input = Object.assign(new PassThrough(), { raw: [] as boolean[] });
  const tty = Object.assign(input, {
    setRawMode(on: boolean) {
      input.raw.push(on);
      return tty;
    },
  }) as unknown as NodeJS.ReadStream & { raw: boolean[] };
  const output = new PassThrough();
  let shown = "";
  output.on("data", (d: Buffer) => {
    shown += d.toString();
  });
  return { input: tty, output, shown: () => shown };
}

describe("promptHidden", () => {
  it.each([
    ["plain", "secret\r", "secret"],
    ["backspace and kill-line", "x\u0015sec\u007fcret\n", "secret"],
    ["pasted with ctrl-d", "pasted\u0004", "pasted"],
    ["unicode", "päss ✓\r", "päss ✓"],
  ])("reads %s input without echoing it", async (_name, typed, expected) => {
    const t = fakeTerminal();
    const answer = promptHidden("password: ", t.input, t.output);
    t.input.write(typed);
    expect(await answer).toBe(expected);
    expect(t.shown()).toBe("password: \n");
    expect(t.input.raw).toEqual([true, false]);
  });

  it("cancels on ctrl-c, leaving raw mode", async () => {
    const t = fakeTerminal();
    const answer = promptHidden("password: ", t.input, t.output);
    t.input.write("abc\u0003");
    await expect(answer).rejects.toBeInstanceOf(CollectiveError);
    expect(t.input.raw).toEqual([true, false]);
  });
});

describe("valueFromStdin", () => {
  it.each([
    ["v\n", "v"],
    ["v\r\n", "v"],
    ["v", "v"],
    ["-----BEGIN KEY-----\nabc\n-----END KEY-----\n\n", "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"],
  ])("%j is %j", (input, value) => expect(valueFromStdin(input)).toBe(value));
});
