// biome-ignore-all lint/suspicious/noTemplateCurlyInString: pending values are shown as ${path} in plain strings
/** CVL values: percent-encoding of maps, placeholders and their escape counts, substitution. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CvlString,
  decodeMap,
  display,
  encodeMap,
  encodeString,
  fromParts,
  hasPlaceholder,
  type Placeholder,
  percentDecode,
  percentEncode,
  substitute,
  textLength,
} from "./values.js";

const pending = (path: string, escapes = 0): Placeholder => ({ kind: "pending", path, escapes });

describe("percentEncode", () => {
  const cases: Array<[string, string]> = [
    ["", ""],
    ["abcXYZ019", "abcXYZ019"],
    [".", "%2E"],
    ["10.0.0.1", "10%2E0%2E0%2E1"],
    ["a b", "a%20b"],
    ["-_~", "%2D%5F%7E"],
    ["k=v&x=y", "k%3Dv%26x%3Dy"],
    ["a,b", "a%2Cb"],
    ["100%", "100%25"],
    ["/var/named", "%2Fvar%2Fnamed"],
    ["é", "%C3%A9"],
    ["日", "%E6%97%A5"],
    ["😀", "%F0%9F%98%80"],
    ["\n\t\0", "%0A%09%00"],
  ];
  for (const [text, encoded] of cases) {
    it(`${JSON.stringify(text)} -> ${encoded}`, () => {
      expect(percentEncode(text)).toBe(encoded);
      expect(percentDecode(encoded)).toBe(text);
    });
  }

  it("leaves only [A-Za-z0-9%] and round-trips any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
        const encoded = percentEncode(text);
        expect(encoded).toMatch(/^[A-Za-z0-9%]*$/);
        // Lone surrogates are not representable in UTF-8; everything else comes back exactly.
        if (Buffer.from(text, "utf8").toString("utf8") === text) expect(percentDecode(encoded)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});

describe("encodeMap and decodeMap", () => {
  it("encodes keys and values, joins pairs with & and multi-values with ,", () => {
    expect(
      encodeMap([
        ["name", ["l"]],
        ["ip.v4", ["10.0.0.1", "10.0.0.2"]],
      ]),
    ).toBe("name=l&ip%2Ev4=10%2E0%2E0%2E1,10%2E0%2E0%2E2");
    expect(decodeMap("name=l&ip%2Ev4=10%2E0%2E0%2E1,10%2E0%2E0%2E2")).toEqual([
      ["name", ["l"]],
      ["ip.v4", ["10.0.0.1", "10.0.0.2"]],
    ]);
  });

  it("nests: a map inside a map is escaped once more and decodes level by level", () => {
    const inner = encodeMap([["a b", ["c&d"]]]);
    expect(inner).toBe("a%20b=c%26d");
    const outer = encodeMap([["x", [inner]]]);
    expect(outer).toBe("x=a%2520b%3Dc%2526d");
    expect(decodeMap(decodeMap(outer as string)[0]![1][0]!)).toEqual([["a b", ["c&d"]]]);
  });

  it("an empty value list gives k=", () => {
    expect(encodeMap([["k", []]])).toBe("k=");
    expect(decodeMap("k=")).toEqual([["k", [""]]]);
  });

  it("round-trips random maps of random strings", () => {
    const text = fc.string({ maxLength: 12 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(text, fc.array(text, { minLength: 1, maxLength: 3 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (pairs) => {
          const encoded = encodeMap(pairs);
          expect(typeof encoded).toBe("string");
          expect(decodeMap(encoded as string)).toEqual(pairs);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("placeholders", () => {
  it("count one escape per map level they are inside", () => {
    const ip = fromParts([pending("l.ethernet0.ip")]);
    const once = encodeMap([["ip", [ip]]]);
    const twice = encodeMap([["outer", [once]]]);
    expect(once).toEqual({ parts: ["ip=", pending("l.ethernet0.ip", 1)] });
    expect(twice).toEqual({ parts: ["outer=ip%3D", pending("l.ethernet0.ip", 2)] });
    expect(display(twice)).toBe("outer=ip%3D${l.ethernet0.ip}");
  });

  it("are filled in escaped as many times as they count", () => {
    const lookup = (p: Placeholder) => (p.path === "l.ethernet0.ip" ? "10.0.0.3" : undefined);
    expect(substitute(fromParts([pending("l.ethernet0.ip")]), lookup)).toBe("10.0.0.3");
    expect(substitute({ parts: ["ip=", pending("l.ethernet0.ip", 1)] }, lookup)).toBe("ip=10%2E0%2E0%2E3");
    expect(substitute({ parts: ["outer=ip%3D", pending("l.ethernet0.ip", 2)] }, lookup)).toBe(
      "outer=ip%3D10%252E0%252E0%252E3",
    );
    expect(substitute({ parts: ["a=", pending("l.ethernet0.ip", 3)] }, lookup)).toBe(
      "a=10%25252E0%25252E0%25252E3",
    );
  });

  it("that lookup does not know stay symbolic", () => {
    const s: CvlString = { parts: ["ip=", pending("x", 1), "&y=", pending("y", 1)] };
    const filled = substitute(s, (p) => (p.path === "x" ? "1.2" : undefined));
    expect(filled).toEqual({ parts: ["ip=1%2E2&y=", pending("y", 1)] });
    expect(hasPlaceholder(filled)).toBe(true);
    expect(hasPlaceholder(filled, "secret")).toBe(false);
  });

  it("substituting then decoding gives the value back at every depth", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.integer({ min: 0, max: 4 }), (value, depth) => {
        let s: CvlString = fromParts([pending("p")]);
        for (let i = 0; i < depth; i++) s = encodeMap([["k", [s]]]);
        let text = substitute(s, () => value) as string;
        expect(typeof text).toBe("string");
        for (let i = 0; i < depth; i++) text = decodeMap(text)[0]![1][0]!;
        expect(text).toBe(value);
      }),
      { numRuns: 300 },
    );
  });

  it("encodeString escapes text now and placeholders later", () => {
    expect(encodeString("a.b")).toBe("a%2Eb");
    expect(encodeString({ parts: ["a.", pending("p")] })).toEqual({ parts: ["a%2E", pending("p", 1)] });
  });
});

describe("fromParts, display and textLength", () => {
  it("merges adjacent text and collapses to plain text", () => {
    expect(fromParts(["a", "", "b"])).toBe("ab");
    expect(fromParts([])).toBe("");
    expect(fromParts(["a", pending("p"), "b", "c"])).toEqual({ parts: ["a", pending("p"), "bc"] });
  });

  it("shows placeholders as ${path} and counts them for the size limit", () => {
    const s: CvlString = { parts: ["ip=", pending("d.ethernet0.ip", 1)] };
    expect(display(s)).toBe("ip=${d.ethernet0.ip}");
    expect(textLength(s)).toBe(3 + "d.ethernet0.ip".length + 3);
    expect(textLength("abc")).toBe(3);
  });
});
