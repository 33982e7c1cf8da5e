// biome-ignore-all lint/suspicious/noTemplateCurlyInString: pending values are shown as ${path} in plain strings
/**
 * The semantics of CVL evaluation (docs/cvl.md; DESIGN.md section 4): the paper's example, late binding,
 * references, maps, pending and sensitive values, cycles, and how the root object is chosen.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { stopWaves } from "./dependencies.js";
import { type EvaluateOptions, evaluateFile } from "./index.js";
import { type ComponentJson, evaluationToJson } from "./json.js";
import { type CvlString, decodeMap, type Placeholder, percentDecode, substitute } from "./values.js";

const paper = fileURLToPath(new URL("./testdata/paper/acme.cvl", import.meta.url));

/** Evaluates CVL source given as text (named test.cvl in this directory). */
async function evaluate(text: string, options: EvaluateOptions = {}) {
  return evaluateFile(fileURLToPath(new URL("./test.cvl", import.meta.url)), { ...options, text });
}

/** Evaluates and returns the JSON form, failing with the diagnostics when there are errors. */
async function evaluateJson(text: string, options: EvaluateOptions = {}) {
  const result = await evaluate(text, options);
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  expect(errors.map((d) => `${d.code}: ${d.message}`)).toEqual([]);
  expect(result.evaluation).toBeDefined();
  return evaluationToJson(result.evaluation!);
}

function component(json: { components: ComponentJson[] }, path: string): ComponentJson {
  const found = json.components.find((c) => c.path === path);
  if (!found) throw new Error(`no component ${path}: ${json.components.map((c) => c.path).join(", ")}`);
  return found;
}

function codesOf(result: { diagnostics: readonly { code: string }[] }): string[] {
  return result.diagnostics.map((d) => d.code);
}

const prologue = `CVL = "0.8";
Leaf extends ContainerAppliance {
  var x, y;
  image = "leaf.tar";
  x = "leaf";
}
`;

describe("the paper's Groupware (acme.cvl)", () => {
  it("evaluates as section 5 of the paper says", async () => {
    const result = await evaluateFile(paper);
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const json = evaluationToJson(result.evaluation!);
    expect(json.appliance).toBe("AcmeGroupware");
    expect(json.components.map((c) => [c.path, c.type, c.kind])).toEqual([
      ["", "AcmeGroupware", "van"],
      ["d", "DNS", "vm"],
      ["l", "OpenLDAP", "vm"],
      ["f", "Firewall", "vm"],
    ]);
    const root = component(json, "");
    expect(root.params.domain).toEqual(["acme.org"]);
    expect(root.params.vanIF).toEqual(["f.ethernet1"]);
    expect(root.params.defaultroute).toEqual(["${f.ethernet0.ip}"]);
    expect(root.pending).toContain("defaultroute");
    // Late binding: Groupware says d.domain = domain; AcmeGroupware sets domain.
    expect(component(json, "d").params.domain).toEqual(["acme.org"]);
    expect(component(json, "l").params.domain).toEqual(["acme.org"]);
    expect(component(json, "d").params.dnshosts).toEqual([
      "name=l&ip=${l.ethernet0.ip}",
      "name=d&ip=${d.ethernet0.ip}",
      "name=f&ip=${f.ethernet0.ip}",
    ]);
    expect(component(json, "f").params.services).toEqual([
      "port=389&ip=${l.ethernet0.ip}",
      "port=636&ip=${l.ethernet0.ip}",
      "port=53&ip=${d.ethernet0.ip}",
    ]);
    expect(component(json, "d").pending).toEqual(expect.arrayContaining(["dnshosts", "ethernet0.ip"]));
    expect(component(json, "f").interfaces).toEqual(["ethernet0", "ethernet1"]);
    expect(component(json, "l").requires).toEqual(["DNS"]);
    expect(component(json, "d").provides).toEqual(["DNS"]);
    expect(json.startOrder).toEqual([["d", "f"], ["l"]]);
    expect(stopWaves(json.startOrder)).toEqual([["l"], ["d", "f"]]);
    expect(json.imports.map((i) => i.name).sort()).toEqual(["DNS", "Firewall", "Groupware", "OpenLDAP"]);
  });

  it("fills the pending addresses into the map strings with one level of escaping", async () => {
    const result = await evaluateFile(paper);
    const d = result.evaluation!.components.find((c) => c.path === "d")!;
    const dnshosts = d.params.get("dnshosts")!;
    const placeholders = dnshosts.flatMap((s) =>
      typeof s === "string" ? [] : s.parts.filter((p) => typeof p !== "string"),
    );
    expect(placeholders).toEqual([
      { kind: "pending", path: "l.ethernet0.ip", escapes: 1 },
      { kind: "pending", path: "d.ethernet0.ip", escapes: 1 },
      { kind: "pending", path: "f.ethernet0.ip", escapes: 1 },
    ]);
    const ips: Record<string, string> = {
      "l.ethernet0.ip": "10.1.2.3",
      "d.ethernet0.ip": "10.1.2.4",
      "f.ethernet0.ip": "10.1.2.5",
    };
    const filled = dnshosts.map((s) => substitute(s, (p) => ips[p.path]));
    expect(filled).toEqual([
      "name=l&ip=10%2E1%2E2%2E3",
      "name=d&ip=10%2E1%2E2%2E4",
      "name=f&ip=10%2E1%2E2%2E5",
    ]);
    expect(decodeMap(filled[0] as string)).toEqual([
      ["name", ["l"]],
      ["ip", ["10.1.2.3"]],
    ]);
  });
});

describe("late binding", () => {
  const cases: Array<{ name: string; text: string; path: string; param: string; expected: string[] }> = [
    {
      name: "the most derived object of the type chain wins",
      text: `${prologue}Mid extends Leaf { x = "mid"; }
Last extends Mid { x = "last"; }
V extends VANAppliance { Last c; vanIF = "c.ethernet0"; }`,
      path: "c",
      param: "x",
      expected: ["last"],
    },
    {
      name: "within one object, the last assignment in the text wins",
      text: `${prologue}V extends VANAppliance { Leaf c; c.x = "first"; c.x = "second"; vanIF = "c.ethernet0"; }`,
      path: "c",
      param: "x",
      expected: ["second"],
    },
    {
      name: "the enclosing VAN wins over the component's own type chain",
      text: `${prologue}Mid extends Leaf { x = "mid"; }
V extends VANAppliance { Mid c; c.x = "van"; vanIF = "c.ethernet0"; }`,
      path: "c",
      param: "x",
      expected: ["van"],
    },
    {
      name: "a VAN extending the enclosing VAN wins over it",
      text: `${prologue}V extends VANAppliance { Leaf c; c.x = "v"; vanIF = "c.ethernet0"; }
V2 extends V { c.x = "v2"; }`,
      path: "c",
      param: "x",
      expected: ["v2"],
    },
    {
      name: "the outer VAN wins over the inner VAN (g.f)",
      text: `${prologue}Inner extends VANAppliance { Leaf f; f.x = "inner"; vanIF = "f.ethernet0"; }
Outer extends VANAppliance { Inner g; g.f.x = "outer"; vanIF = "g.f.ethernet0"; }`,
      path: "g.f",
      param: "x",
      expected: ["outer"],
    },
    {
      name: "even the outer VAN's base wins over the inner VAN's most derived object",
      text: `${prologue}Inner extends VANAppliance { Leaf f; vanIF = "f.ethernet0"; }
Inner2 extends Inner { f.x = "inner2"; }
OuterBase extends VANAppliance { Inner2 g; g.f.x = "outerbase"; vanIF = "g.f.ethernet0"; }
Outer extends OuterBase { }`,
      path: "g.f",
      param: "x",
      expected: ["outerbase"],
    },
    {
      name: "a reference is resolved after every assignment is known (Groupware's d.domain = domain)",
      text: `${prologue}V extends VANAppliance { var domain; Leaf c; c.x = domain; vanIF = "c.ethernet0"; }
Acme extends V { domain = "acme.org"; }`,
      path: "c",
      param: "x",
      expected: ["acme.org"],
    },
    {
      name: "a reference resolves in the scope of the object body that holds the assignment",
      text: `${prologue}Inner extends VANAppliance { var domain; Leaf f; domain = "inner.org"; f.x = domain; vanIF = "f.ethernet0"; }
Outer extends VANAppliance { var domain; Inner g; domain = "outer.org"; g.f.y = domain; vanIF = "g.f.ethernet0"; }`,
      path: "g.f",
      param: "y",
      expected: ["outer.org"],
    },
    {
      name: "an inner reference still sees the inner VAN's value",
      text: `${prologue}Inner extends VANAppliance { var domain; Leaf f; domain = "inner.org"; f.x = domain; vanIF = "f.ethernet0"; }
Outer extends VANAppliance { var domain; Inner g; domain = "outer.org"; vanIF = "g.f.ethernet0"; }`,
      path: "g.f",
      param: "x",
      expected: ["inner.org"],
    },
    {
      name: "an outer VAN overriding an inner VAN's parameter changes what the inner reference sees",
      text: `${prologue}Inner extends VANAppliance { var domain; Leaf f; domain = "inner.org"; f.x = domain; vanIF = "f.ethernet0"; }
Outer extends VANAppliance { Inner g; g.domain = "set.by.outer"; vanIF = "g.f.ethernet0"; }`,
      path: "g.f",
      param: "x",
      expected: ["set.by.outer"],
    },
    {
      name: "name defaults to the component's name",
      text: `${prologue}V extends VANAppliance { Leaf web; web.y = web.name; vanIF = "web.ethernet0"; }`,
      path: "web",
      param: "y",
      expected: ["web"],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const json = await evaluateJson(c.text);
      expect(component(json, c.path).params[c.param]).toEqual(c.expected);
    });
  }
});

describe("values", () => {
  const cases: Array<{ name: string; assignment: string; expected: string[] }> = [
    { name: "a list of strings", assignment: `x = "a", "b";`, expected: ["a", "b"] },
    {
      name: "a reference splices the referenced list",
      assignment: `v = "a", "b"; x = "pre", v, "post";`,
      expected: ["pre", "a", "b", "post"],
    },
    {
      name: "references of references splice in order",
      assignment: `v = "a", "b"; w = v, v; x = w, "c";`,
      expected: ["a", "b", "a", "b", "c"],
    },
    {
      name: "a map is one string k=v&k2=v2",
      assignment: `x = { a => "1", b => "2" };`,
      expected: ["a=1&b=2"],
    },
    {
      name: "'.' in keys and values is %2E",
      assignment: `x = { "k.v" => "a.b" };`,
      expected: ["k%2Ev=a%2Eb"],
    },
    {
      name: "every byte outside [A-Za-z0-9] is escaped, upper-case hex",
      assignment: `x = { k => "a-b_c~d e/f:g&h=i,j%k" };`,
      expected: ["k=a%2Db%5Fc%7Ed%20e%2Ff%3Ag%26h%3Di%2Cj%25k"],
    },
    {
      name: "UTF-8 multibyte characters are escaped byte by byte",
      assignment: `x = { "clé" => "日本" };`,
      expected: ["cl%C3%A9=%E6%97%A5%E6%9C%AC"],
    },
    {
      name: "a multi-valued map value is its elements joined by ','",
      assignment: `v = "a", "b,c"; x = { k => v };`,
      expected: ["k=a,b%2Cc"],
    },
    {
      name: "maps nest: the inner map is escaped once more",
      assignment: `x = { outer => { inner => "a b" }, n => "1" };`,
      expected: ["outer=inner%3Da%2520b&n=1"],
    },
    {
      name: "a list of maps is several strings",
      assignment: `x = { a => "1" }, { a => "2" };`,
      expected: ["a=1", "a=2"],
    },
    {
      name: "a string with escapes",
      assignment: `x = "tab\\there", "quote\\"", "back\\\\slash";`,
      expected: ["tab\there", 'quote"', "back\\slash"],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const json = await evaluateJson(`CVL = "0.8";
Web extends ContainerAppliance {
  var v, w, x;
  image = "web.tar";
  ${c.assignment}
}`);
      expect(component(json, "").params.x).toEqual(c.expected);
    });
  }

  it("decodes nested maps back to the values", async () => {
    const json = await evaluateJson(`CVL = "0.8";
Web extends ContainerAppliance { var x; image = "w.tar"; x = { outer => { "in.ner" => "a b,c" } }; }`);
    const [[key, [inner]]] = decodeMap(json.components[0]!.params.x![0]!) as [[string, [string]]];
    expect(key).toBe("outer");
    // The ',' inside the one value is escaped, so it does not split it into two.
    expect(decodeMap(inner)).toEqual([["in.ner", ["a b,c"]]]);
  });

  it("gives a pending address inside nested maps the right number of escapes", async () => {
    const result = await evaluate(`CVL = "0.8";
Web extends ContainerAppliance { image = "w.tar"; }
V extends VANAppliance {
  var x;
  Web web;
  x = web.ethernet0.ip, { ip => web.ethernet0.ip }, { outer => { ip => web.ethernet0.ip } };
  vanIF = "web.ethernet0";
}`);
    expect(codesOf(result)).toEqual([]);
    const x = result.evaluation!.components[0]!.params.get("x")!;
    const escapes = (s: CvlString) =>
      typeof s === "string"
        ? []
        : s.parts.filter((p): p is Placeholder => typeof p !== "string").map((p) => p.escapes);
    expect(x.map(escapes)).toEqual([[0], [1], [2]]);
    const filled = x.map((s) =>
      substitute(s, (p) => (p.path === "web.ethernet0.ip" ? "10.0.0.7" : undefined)),
    );
    expect(filled).toEqual(["10.0.0.7", "ip=10%2E0%2E0%2E7", "outer=ip%3D10%252E0%252E0%252E7"]);
    // Decoding level by level gives the address back.
    const outer = decodeMap(filled[2] as string)[0]![1][0]!;
    expect(decodeMap(outer)).toEqual([["ip", ["10.0.0.7"]]]);
    expect(percentDecode(percentDecode("10%252E0%252E0%252E7"))).toBe("10.0.0.7");
  });
});

describe("sensitive parameters", () => {
  const text = `CVL = "0.8";
Db extends ContainerAppliance {
  var "sensitive" password, dsn;
  var user;
  image = "db.tar";
  user = "app";
  dsn = { user => user, password => password };
}
Site extends VANAppliance {
  var "sensitive" secret;
  Db db;
  db.password = secret;
  vanIF = "db.ethernet0";
}`;

  it("never appear with a value in the JSON output", async () => {
    const json = await evaluateJson(text);
    const db = component(json, "db");
    expect(db.sensitive.sort()).toEqual(["dsn", "password"]);
    expect(db.params.password).toBeUndefined();
    expect(db.params.dsn).toBeUndefined();
    expect(db.params.user).toEqual(["app"]);
    expect(component(json, "").sensitive).toEqual(["secret"]);
    expect(component(json, "").params.secret).toBeUndefined();
    // No secret placeholder leaks anywhere in the serialized output.
    expect(JSON.stringify(json)).not.toMatch(/\$\{[^}]*(secret|password)[^}]*\}/);
  });

  it("stay symbolic secrets that the user agent fills in", async () => {
    const result = await evaluate(text);
    const db = result.evaluation!.components.find((c) => c.path === "db")!;
    const password = db.params.get("password")!;
    expect(password).toEqual([{ parts: [{ kind: "secret", path: "secret", escapes: 0 }] }]);
    const dsn = db.params.get("dsn")![0]!;
    expect(typeof dsn === "string" ? [] : dsn.parts).toContainEqual({
      kind: "secret",
      path: "secret",
      escapes: 1,
    });
  });

  it("must not flow into a parameter that is not sensitive, nor be written in the file", async () => {
    const result = await evaluate(`CVL = "0.8";
Db extends ContainerAppliance {
  var "sensitive" password;
  var log;
  image = "db.tar";
  password = "hunter2";
  log = { p => password };
}`);
    expect(codesOf(result).sort()).toEqual(["CVL1403", "CVL1407"]);
    expect(result.evaluation).toBeUndefined();
    expect(result.diagnostics.map((d) => d.message).join("\n")).not.toContain("hunter2");
  });
});

describe("reference cycles", () => {
  it("are reported with the cycle", async () => {
    const result = await evaluate(`CVL = "0.8";
Web extends ContainerAppliance { var a, b, c; image = "w.tar"; a = b; b = { k => c }; c = "x", a; }`);
    expect(result.evaluation).toBeUndefined();
    expect(result.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ["CVL1401", "references form a cycle: a -> b -> c -> a"],
    ]);
  });

  it("across components name the full paths", async () => {
    const result = await evaluate(
      `${prologue}V extends VANAppliance { Leaf p, q; p.x = q.x; q.x = p.y; p.y = p.x; vanIF = "p.ethernet0"; }`,
    );
    expect(result.evaluation).toBeUndefined();
    expect(codesOf(result)).toEqual(["CVL1401"]);
    expect(result.diagnostics[0]!.message).toMatch(
      /p\.x -> q\.x -> p\.y -> p\.x|q\.x -> p\.y -> p\.x -> q\.x|p\.y -> p\.x -> q\.x -> p\.y/,
    );
  });
});

describe("required parameters", () => {
  const text = `${prologue}Db extends ContainerAppliance { var "required" user, password; image = "db.tar"; }
V extends VANAppliance { Db db; Leaf web; vanIF = "web.ethernet0"; }`;

  it("without a value are warnings for check and eval, and listed as missing", async () => {
    const result = await evaluate(text);
    expect(result.diagnostics.map((d) => [d.code, d.severity])).toEqual([
      ["CVL1402", "warning"],
      ["CVL1402", "warning"],
    ]);
    expect(result.evaluation).toBeDefined();
    expect(component(evaluationToJson(result.evaluation!), "db").missing.sort()).toEqual([
      "password",
      "user",
    ]);
  });

  it("are errors with requireComplete, each naming where it was declared", async () => {
    const result = await evaluate(text, { requireComplete: true });
    expect(result.evaluation).toBeUndefined();
    expect(result.diagnostics.map((d) => [d.code, d.severity])).toEqual([
      ["CVL1402", "error"],
      ["CVL1402", "error"],
    ]);
    const messages = result.diagnostics.map((d) => d.message).join("\n");
    expect(messages).toContain("'db.user'");
    expect(messages).toContain("'db.password'");
    for (const d of result.diagnostics) {
      const declaration = [d, ...d.related].find((r) =>
        r.file?.text.slice(r.start, r.start + r.length).match(/^(user|password)$/),
      );
      expect(declaration, d.message).toBeDefined();
    }
  });
});

describe("the root object", () => {
  const text = `CVL = "0.8";
Web extends ContainerAppliance { image = "w.tar"; }
Db extends ContainerAppliance { image = "d.tar"; }`;

  it("must be unambiguous", async () => {
    const result = await evaluate(text);
    expect(result.evaluation).toBeUndefined();
    expect(codesOf(result)).toEqual(["CVL1216"]);
    expect(result.diagnostics[0]!.message).toContain("several appliances (Web, Db)");
    expect(result.diagnostics[0]!.message).toContain("--object");
  });

  it("is chosen with --object", async () => {
    const json = await evaluateJson(text, { object: "Db" });
    expect(json.appliance).toBe("Db");
    expect(component(json, "").params.image).toEqual(["d.tar"]);
  });

  it("named by --object must exist", async () => {
    const result = await evaluate(text, { object: "Dbb" });
    expect(codesOf(result)).toEqual(["CVL1217"]);
    expect(result.diagnostics[0]!.message).toContain("Did you mean 'Db'?");
  });

  it("is the one appliance nothing else in the file extends or uses", async () => {
    const json = await evaluateJson(`${prologue}V extends VANAppliance { Leaf c; vanIF = "c.ethernet0"; }
W extends V { }`);
    expect(json.appliance).toBe("W");
  });
});

describe("imports", () => {
  it("bind a file's only object even when it is an Interface", async () => {
    const path = fileURLToPath(new URL("./testdata/diagnostics/uses-uplink.cvl", import.meta.url));
    const result = await evaluateFile(path, {
      text: `CVL = "0.8";
import { url => "imports/uplink.cvl" } Uplink;
Router extends ContainerAppliance { Uplink ethernet1; image = "router.tar"; ethernet1.speed = "10G"; }`,
    });
    expect(result.diagnostics).toEqual([]);
    const json = evaluationToJson(result.evaluation!);
    expect(component(json, "").interfaces).toEqual(["ethernet0", "ethernet1"]);
    expect(component(json, "").params["ethernet1.speed"]).toEqual(["10G"]);
  });
});
