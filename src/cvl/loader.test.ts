/** The loader's diagnostics for imported files that cannot be loaded: each is blamed on the import too. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DiagnosticBag } from "./diagnostics.js";
import { limits } from "./limits.js";
import { ProgramLoader } from "./loader.js";
import type { ImportResolver, ResolvedSource } from "./resolver.js";

/** Resolves every import to `bytes`, as a repository version's CVL file. */
function resolverOf(bytes: Uint8Array): ImportResolver {
  const source: ResolvedSource = {
    location: "https://example.org/dns/versions/3/files/dns.cvl",
    displayName: "https://example.org/dns/versions/3/files/dns.cvl",
    bytes,
    origin: { repository: "https://example.org/dns", version: 3, pinned: true },
  };
  return { handles: async () => true, resolve: async () => source };
}

const importer = 'CVL = "0.8";\nimport { url => "https://example.org/dns", version => "3" } Dns;\n';

describe("an imported file that cannot be decoded", () => {
  it.each([
    ["is not UTF-8", Buffer.from('CVL = "0.8";\n// caf\xe9\n', "latin1"), "CVL1002"],
    ["is too large", Buffer.alloc(limits.fileBytes + 1, 0x20), "CVL1003"],
  ])("%s: reported in it, and CVL1306 at the import statement", async (_label, bytes, code) => {
    const diagnostics = new DiagnosticBag();
    await new ProgramLoader(resolverOf(bytes), diagnostics).loadText("site.cvl", importer);
    expect(diagnostics.items.map((d) => [d.code, d.file?.name])).toEqual([
      [code, "https://example.org/dns/versions/3/files/dns.cvl"],
      ["CVL1306", "site.cvl"],
    ]);
    const blame = diagnostics.items[1]!;
    expect(blame.file?.text.slice(blame.start, blame.start + blame.length)).toBe("import");
    expect(blame.start).toBe(importer.indexOf("import"));
    expect(blame.message).toContain(
      "https://example.org/dns/versions/3/files/dns.cvl, imported as Dns, has errors",
    );
  });
});

describe("an entry file that is not a regular file", () => {
  const noImports: ImportResolver = {
    handles: async () => false,
    resolve: async () => {
      throw new Error("no imports here");
    },
  };
  async function messagesFor(path: string): Promise<string[]> {
    const diagnostics = new DiagnosticBag();
    await new ProgramLoader(noImports, diagnostics).loadFile(path);
    return diagnostics.items.map((d) => `${d.code}: ${d.message}`);
  }

  it("is refused at once, saying what it is: a FIFO (no wait for a writer), a device (no endless read)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "loader-fifo-"));
    try {
      const fifo = join(dir, "app.cvl");
      execFileSync("mkfifo", [fifo]);
      expect(await messagesFor(fifo)).toEqual([
        "CVL1001: cannot read the file: it is a FIFO (named pipe), not a CVL file",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await messagesFor("/dev/zero")).toEqual([
      "CVL1001: cannot read the file: it is a character device, not a CVL file",
    ]);
  });
});
