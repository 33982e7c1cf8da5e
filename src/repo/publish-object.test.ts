/**
 * `cui publish --object NAME`: a CVL file that defines several appliances is published as one of them,
 * the version records which, and a plain import of the version binds that one.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { evaluateFile } from "../cvl/index.js";
import { importResolver } from "../import-resolver.js";
import { publish } from "./publish.js";
import { makeRepository, TempDirs } from "./repo-test-kit.js";
import { RepositoryResolver } from "./resolver.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

const twoAppliances = `CVL = "0.8";
Web extends VANAppliance { provides = "web"; }
Db extends VANAppliance { provides = "db"; }
`;

async function stack() {
  const base = temp.make("publish-object");
  const { repo, keyPath } = await makeRepository(base);
  const cvlPath = join(base, "stack.cvl");
  writeFileSync(cvlPath, twoAppliances);
  return { base, repo, keyPath, cvlPath };
}

/** Evaluates a file that imports the repository with the given extra import keys, and says what it bound. */
async function importAndEvaluate(base: string, repo: string, extra = "") {
  const site = join(base, "site.cvl");
  writeFileSync(site, `CVL = "0.8";\nimport { url => "${repo}"${extra} } App;\nSite extends App { }\n`);
  const result = await evaluateFile(site, { resolver: importResolver() });
  const root = result.evaluation?.components[0];
  return {
    errors: result.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code}: ${d.message}`),
    provides: root?.params.get("provides"),
  };
}

describe("publish --object", () => {
  it("is needed when the file defines several appliances, and the error says so", async () => {
    const { repo, keyPath, cvlPath } = await stack();
    await expect(publish({ repoDir: repo, cvlPath, keyPath })).rejects.toThrow(
      /several appliances \(Web, Db\); pick one with --object NAME/,
    );
  });

  it("names an object the file defines, or fails naming the ones it does", async () => {
    const { repo, keyPath, cvlPath } = await stack();
    await expect(publish({ repoDir: repo, cvlPath, keyPath, object: "Dbb" })).rejects.toThrow(
      /no object 'Dbb'.*Did you mean 'Db'\?/s,
    );
  });

  it("records the object in the version, and a plain import binds it", async () => {
    const { base, repo, keyPath, cvlPath } = await stack();
    const db = await publish({ repoDir: repo, cvlPath, keyPath, object: "Db" });
    expect(db.manifest.appliance).toEqual({ name: "Db", kind: "van", cvl: "stack.cvl" });
    const source = await new RepositoryResolver().resolve({ url: repo, importer: join(base, "x.cvl") });
    expect(source.object).toBe("Db");
    expect(await importAndEvaluate(base, repo)).toEqual({ errors: [], provides: ["db"] });

    const web = await publish({ repoDir: repo, cvlPath, keyPath, object: "Web" });
    expect(web.version).toBe(2);
    expect(await importAndEvaluate(base, repo)).toEqual({ errors: [], provides: ["web"] });
    expect(await importAndEvaluate(base, repo, `, version => "1"`)).toEqual({ errors: [], provides: ["db"] });
  });

  it("leaves the import's own object => first", async () => {
    const { base, repo, keyPath, cvlPath } = await stack();
    await publish({ repoDir: repo, cvlPath, keyPath, object: "Db" });
    expect(await importAndEvaluate(base, repo, `, object => "Web"`)).toEqual({
      errors: [],
      provides: ["web"],
    });
  });
});

describe("cui publish --object", () => {
  it("prints the version; without it, exits 1 saying which objects there are and what to pass", async () => {
    const { repo, keyPath, cvlPath } = await stack();
    const without = await runCui(["publish", "--key", keyPath, repo, cvlPath]);
    expect(without.status).toBe(1);
    expect(without.stderr).toContain(
      "error CVL1216: this file defines several appliances (Web, Db); pick one with --object NAME",
    );
    expect(without.stdout).toBe("");
    const withObject = await runCui(["publish", "--key", keyPath, "--object", "Db", repo, cvlPath]);
    expect(withObject).toMatchObject({ status: 0, stdout: "1\n" });
    const listed = await runCui(["versions", "--json", repo]);
    expect(JSON.parse(listed.stdout).versions[0]).toMatchObject({ version: 1, name: "Db" });
  });
});
