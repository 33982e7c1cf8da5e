/** Start order from provides/requires: waves, the reverse stop order, unmet requirements and cycles. */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { stopWaves } from "./dependencies.js";
import { evaluateFile } from "./index.js";

async function evaluate(body: string, requireComplete = false) {
  return evaluateFile(fileURLToPath(new URL("./deps.cvl", import.meta.url)), {
    requireComplete,
    text: `CVL = "0.8";
App extends ContainerAppliance { var tag; image = "app.tar"; }
${body}`,
  });
}

/** A VAN of components "name:provides:requires" (lists separated by '+'), first one's interface exported. */
function van(specs: string[], extra = ""): string {
  const lines = specs.map((spec) => {
    const [name, provides, requires] = spec.split(":");
    const list = (s: string | undefined) =>
      s
        ? s
            .split("+")
            .map((x) => `"${x}"`)
            .join(", ")
        : "";
    return [
      `  App ${name};`,
      provides ? `  ${name}.provides = ${list(provides)};` : "",
      requires ? `  ${name}.requires = ${list(requires)};` : "",
    ].join("\n");
  });
  const first = specs[0]!.split(":")[0]!;
  return `Site extends VANAppliance {\n${lines.join("\n")}\n${extra}  vanIF = "${first}.ethernet0";\n}`;
}

describe("start waves", () => {
  const cases: Array<{ name: string; specs: string[]; waves: string[][] }> = [
    { name: "no dependencies: one wave", specs: ["a", "b", "c"], waves: [["a", "b", "c"]] },
    { name: "a chain", specs: ["web::sql", "db:sql:dns", "dns:dns"], waves: [["dns"], ["db"], ["web"]] },
    {
      name: "the paper: DNS first, LDAP after it, the firewall in parallel with DNS",
      specs: ["d:DNS", "l::DNS", "f"],
      waves: [["d", "f"], ["l"]],
    },
    {
      name: "a service with two providers waits for both",
      specs: ["x::s", "p1:s", "p2:s:t", "q:t"],
      waves: [["p1", "q"], ["p2"], ["x"]],
    },
    {
      name: "a component providing what it requires does not wait for itself",
      specs: ["a:s:s", "b::s"],
      waves: [["a"], ["b"]],
    },
    {
      name: "a diamond",
      specs: ["top::l+r", "l:l:base", "r:r:base", "b:base"],
      waves: [["b"], ["l", "r"], ["top"]],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const result = await evaluate(van(c.specs));
      expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(result.evaluation!.startOrder).toEqual(c.waves);
      expect(stopWaves(result.evaluation!.startOrder)).toEqual([...c.waves].reverse());
    });
  }

  it("span nested VANs by their dotted paths and leave the VANs themselves out", async () => {
    const result = await evaluate(`Inner extends VANAppliance {
  App db, cache;
  db.provides = "sql";
  cache.requires = "sql";
  vanIF = "db.ethernet0";
}
Outer extends VANAppliance {
  Inner g;
  App web;
  web.requires = "sql";
  vanIF = "web.ethernet0";
}`);
    expect(result.evaluation!.startOrder).toEqual([["g.db"], ["g.cache", "web"]]);
  });

  it("stopWaves copies instead of reversing in place", () => {
    const start = [["a"], ["b", "c"]];
    expect(stopWaves(start)).toEqual([["b", "c"], ["a"]]);
    expect(start).toEqual([["a"], ["b", "c"]]);
  });
});

describe("dependency errors", () => {
  it("an unmet requirement is a warning for check and eval (another VAN may provide it)", async () => {
    const result = await evaluate(van(["web:http:sql"]));
    expect(result.evaluation).toBeDefined();
    expect(result.diagnostics.map((d) => [d.code, d.severity])).toEqual([["CVL1405", "warning"]]);
  });

  it("an unmet requirement is an error for a start, naming the service and what is provided", async () => {
    const result = await evaluate(van(["web:http:sql+dns"]), true);
    expect(result.evaluation).toBeUndefined();
    expect(result.diagnostics.every((d) => d.severity === "error")).toBe(true);
    expect(result.diagnostics.map((d) => [d.code, d.message])).toEqual([
      [
        "CVL1405",
        `web requires "sql", which no component provides (provided: "http"); add an appliance that provides it`,
      ],
      [
        "CVL1405",
        `web requires "dns", which no component provides (provided: "http"); add an appliance that provides it`,
      ],
    ]);
  });

  it("a cycle is reported with the components on it, at a requires assignment", async () => {
    const result = await evaluate(van(["a:x:z", "b:y:x", "c:z:y", "d"]));
    expect(result.evaluation).toBeUndefined();
    expect(result.diagnostics.map((d) => d.code)).toEqual(["CVL1404"]);
    const d = result.diagnostics[0]!;
    expect(d.message).toMatch(/cycle: (a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c) /);
    expect(d.file!.text.slice(d.start, d.start + d.length)).toMatch(/^\w+\.requires = "\w";$/);
  });
});
