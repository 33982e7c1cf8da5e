import { describe, expect, it } from "vitest";
import { makeTar } from "./repo-test-kit.js";
import { readTar } from "./tar-reader.js";

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  // Odd piece sizes exercise headers and bodies split across reads.
  for (let at = 0; at < data.length; at += 777) yield data.subarray(at, at + 777);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length++;
  return `${length}${body}`;
}

async function entries(data: Buffer) {
  const out: Array<{
    name: string;
    type: string;
    body: string;
    link: string;
    xattrs: Record<string, string>;
  }> = [];
  for await (const e of readTar(once(data), "test.tar")) {
    let body = "";
    for await (const piece of e.body) body += piece.toString();
    out.push({ name: e.name, type: e.type, body, link: e.linkName, xattrs: e.xattrs });
  }
  return out;
}

describe("the tar reader", () => {
  it("reads files, directories, symlinks and hard links with their bodies", async () => {
    const tar = makeTar([
      { name: "dir/", type: "5" },
      { name: "dir/file", body: "x".repeat(1500) },
      { name: "dir/link", type: "2", link: "file" },
      { name: "dir/hard", type: "1", link: "dir/file" },
    ]);
    expect(await entries(tar)).toEqual([
      { name: "dir/", type: "dir", body: "", link: "", xattrs: {} },
      { name: "dir/file", type: "file", body: "x".repeat(1500), link: "", xattrs: {} },
      { name: "dir/link", type: "symlink", body: "", link: "file", xattrs: {} },
      { name: "dir/hard", type: "hardlink", body: "", link: "dir/file", xattrs: {} },
    ]);
  });

  it("applies pax headers (long path, xattrs) and GNU long names", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(120)}`;
    const pax = paxRecord("path", long) + paxRecord("SCHILY.xattr.user.k", "v");
    const tar = makeTar([
      { name: "PaxHeader", type: "x" as never, body: pax },
      { name: "short", body: "pax body" },
      { name: "././@LongLink", type: "L" as never, body: `${long}-gnu\0` },
      { name: "trunc", body: "gnu body" },
    ]);
    const read = await entries(tar);
    expect(read.map((e) => [e.name, e.body, e.xattrs])).toEqual([
      [long, "pax body", { "user.k": Buffer.from("v").toString("base64") }],
      [`${long}-gnu`, "gnu body", {}],
    ]);
  });

  it.each([
    ["garbage", Buffer.alloc(1024, 0x41), /bad header checksum/],
    ["a truncated body", makeTar([{ name: "f", body: "y".repeat(5000) }]).subarray(0, 2048), /truncated/],
    ["a truncated header", makeTar([{ name: "f", body: "y" }]).subarray(0, 100), /middle of a header/],
  ])("rejects %s", async (_label, data, message) => {
    await expect(entries(data)).rejects.toThrow(message);
  });
});
