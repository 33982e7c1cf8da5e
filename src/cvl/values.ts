/**
 * CVL values. Every parameter's value is a list of strings. A string is usually plain text, but before
 * the utility allocates resources a string can contain *pending* parts (an interface's ip that is not
 * allocated yet), and a sensitive string contains *secret* parts (whose text only the user agent knows).
 * Such strings are kept symbolic — a list of parts — so that allocation and secret delivery can fill them
 * in later without evaluating or parsing again.
 *
 * Maps are strings: { a => "b", c => "d" } is "a=b&c=d", with every byte of keys and values outside
 * [A-Za-z0-9] percent-encoded (so maps nest). A symbolic part inside a map remembers how many times its
 * eventual text must be percent-encoded (`escapes`).
 */

/** A placeholder for a value only known later: allocated by the utility, or a secret. */
export interface Placeholder {
  readonly kind: "pending" | "secret";
  /** The dotted path of the parameter whose value goes here ("l.ethernet0.ip"). */
  readonly path: string;
  /** How many times the value must be percent-encoded when it is filled in. */
  readonly escapes: number;
}

export type Part = string | Placeholder;

/** A CVL string: plain text, or a concatenation of text and placeholders. */
export type CvlString = string | { readonly parts: readonly Part[] };

/** A parameter's value: a list of strings. */
export type Value = readonly CvlString[];

export function isPlain(s: CvlString): s is string {
  return typeof s === "string";
}

export function partsOf(s: CvlString): readonly Part[] {
  return typeof s === "string" ? [s] : s.parts;
}

/** Builds a CvlString from parts, merging adjacent text and collapsing to plain text when possible. */
export function fromParts(parts: readonly Part[]): CvlString {
  const merged: Part[] = [];
  for (const p of parts) {
    const last = merged[merged.length - 1];
    if (typeof p === "string") {
      if (p === "") continue;
      if (typeof last === "string") merged[merged.length - 1] = last + p;
      else merged.push(p);
    } else merged.push(p);
  }
  if (merged.length === 0) return "";
  if (merged.length === 1 && typeof merged[0] === "string") return merged[0];
  return { parts: merged.slice() };
}

export function hasPlaceholder(s: CvlString, kind?: Placeholder["kind"]): boolean {
  return (
    typeof s !== "string" &&
    s.parts.some((p) => typeof p !== "string" && (kind === undefined || p.kind === kind))
  );
}

function isUnreserved(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** "%00" ... "%FF": the encoding of each byte. */
const escapedBytes = Array.from(
  { length: 256 },
  (_, b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`,
);

/** Percent-encodes every UTF-8 byte outside [A-Za-z0-9], with upper-case hex ("." is "%2E"). */
export function percentEncode(text: string): string {
  let i = 0;
  while (i < text.length && isUnreserved(text.charCodeAt(i))) i++;
  if (i === text.length) return text;
  // ASCII characters are their own UTF-8 bytes; anything else goes through the UTF-8 encoder.
  const pieces: string[] = [text.slice(0, i)];
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128) return encodeBytes(text);
    pieces.push(isUnreserved(c) ? text[i]! : escapedBytes[c]!);
  }
  return pieces.join("");
}

function encodeBytes(text: string): string {
  const pieces: string[] = [];
  for (const byte of Buffer.from(text, "utf8")) {
    pieces.push(isUnreserved(byte) ? String.fromCharCode(byte) : escapedBytes[byte]!);
  }
  return pieces.join("");
}

/** Decodes percentEncode's output (for appliances reading nested maps, and for tests). */
export function percentDecode(text: string): string {
  return Buffer.from(
    text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    "latin1",
  ).toString("utf8");
}

/** Percent-encodes a CvlString: text now, placeholders later (one more escape each). */
export function encodeString(s: CvlString): CvlString {
  if (typeof s === "string") return percentEncode(s);
  return fromParts(
    s.parts.map((p) => (typeof p === "string" ? percentEncode(p) : { ...p, escapes: p.escapes + 1 })),
  );
}

/** Encodes a map of key → value list as one CvlString: k=v&k2=v2a,v2b. */
export function encodeMap(pairs: ReadonlyArray<readonly [string, Value]>): CvlString {
  // The text between placeholders is collected in pieces and joined once: one flat string, where
  // adding piece by piece would keep a tree of partial strings inside every value.
  const parts: Part[] = [];
  const pieces: string[] = [];
  for (let p = 0; p < pairs.length; p++) {
    const [key, value] = pairs[p]!;
    if (p > 0) pieces.push("&");
    pieces.push(percentEncode(key), "=");
    for (let i = 0; i < value.length; i++) {
      if (i > 0) pieces.push(",");
      const element = value[i]!;
      if (typeof element === "string") {
        pieces.push(percentEncode(element));
        continue;
      }
      for (const part of element.parts) {
        if (typeof part === "string") pieces.push(percentEncode(part));
        else {
          flushText(pieces, parts);
          parts.push({ ...part, escapes: part.escapes + 1 });
        }
      }
    }
  }
  flushText(pieces, parts);
  if (parts.length === 0) return "";
  if (parts.length === 1 && typeof parts[0] === "string") return parts[0];
  return { parts: parts.slice() };
}

/** Moves the text collected in pieces, joined, to parts (unless it is empty). */
function flushText(pieces: string[], parts: Part[]): void {
  const text = pieces.join("");
  pieces.length = 0;
  if (text !== "") parts.push(text);
}

/** Decodes one level of a map string into key → raw (still encoded) value pairs, for appliances and tests. */
export function decodeMap(text: string): Array<[string, string[]]> {
  if (text === "") return [];
  return text.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    return [percentDecode(key), value.split(",").map(percentDecode)];
  });
}

/**
 * Fills placeholders: `lookup` returns the text for a placeholder, or undefined to leave it symbolic.
 * Text filled in is percent-encoded `escapes` times, so a value inside nested maps comes out right.
 */
export function substitute(s: CvlString, lookup: (p: Placeholder) => string | undefined): CvlString {
  if (typeof s === "string") return s;
  return fromParts(
    s.parts.map((p) => {
      if (typeof p === "string") return p;
      const text = lookup(p);
      if (text === undefined) return p;
      let encoded = text;
      for (let i = 0; i < p.escapes; i++) encoded = percentEncode(encoded);
      return encoded;
    }),
  );
}

/** Shows a CvlString with placeholders as ${path} (how `cui eval` prints pending values). */
export function display(s: CvlString): string {
  if (typeof s === "string") return s;
  return s.parts.map((p) => (typeof p === "string" ? p : `\${${p.path}}`)).join("");
}

/** Total length in characters of the text parts, for the value-size limit. */
export function textLength(s: CvlString): number {
  if (typeof s === "string") return s.length;
  let n = 0;
  for (const p of s.parts) n += typeof p === "string" ? p.length : p.path.length + 3;
  return n;
}
