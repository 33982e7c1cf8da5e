/**
 * The encrypted secret store: one JSON file (format in docs/secrets.md) holding the values of sensitive
 * parameters. A random 256-bit data key seals every value (AES-256-GCM); the data key itself is sealed with
 * a key derived from the user's password (scrypt), so changing the password re-wraps one key and touches
 * no value. Each value's authenticated data names the format, where the value belongs and the parameter, so
 * a value cannot be moved to another entry; an HMAC over the whole file stops entries being dropped, rolled
 * back one by one or relinked. A file that fails any check is STORE_CORRUPT and is never overwritten.
 *
 * Entries, keyed by where they belong:
 * - an appliance's own value: the absolute CVL file + the parameter's dotted path ("www.adminpw");
 * - a shared value: a scope name the user chose + the parameter's name ("ops" + "adminpw");
 * - a link: "this file's www.adminpw uses the shared value of scope ops" (the name is the path's last part).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { CollectiveError } from "../errors.js";
import { writeFileAtomic } from "./atomic-write.js";
import {
  DEFAULT_KDF,
  deriveKey,
  type KdfParams,
  kdfParamsProblem,
  macMatches,
  mac as macOf,
  open,
  pad,
  randomKey,
  randomSalt,
  type Sealed,
  seal,
  subkey,
  unpad,
} from "./crypto.js";

export const STORE_FORMAT = "collective-secrets";
export const STORE_VERSION = 1;

/** A sensitive parameter of an appliance instance: its CVL file (absolute) and dotted path. */
export interface SecretRef {
  readonly file: string;
  readonly param: string;
}

/** What list() shows: names only. */
export interface StoreListing {
  /** Parameters with a value of their own. */
  readonly values: SecretRef[];
  /** Parameters that use a shared value. */
  readonly links: Array<SecretRef & { readonly scope: string }>;
  /** Shared values: scope and parameter name. */
  readonly shared: Array<{ readonly scope: string; readonly name: string }>;
}

const PARAM_PATH = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/;
const SCOPE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Values are passwords and keys, not disk images. */
export const MAX_VALUE_BYTES = 64 * 1024;

export function checkRef(ref: SecretRef): void {
  if (!isAbsolute(ref.file)) {
    throw new CollectiveError("BAD_SECRET_NAME", `the CVL file ${JSON.stringify(ref.file)} is not absolute`, {
      hint: "pass the file's absolute path (the CLI resolves it from the working directory)",
    });
  }
  if (!PARAM_PATH.test(ref.param)) {
    throw new CollectiveError("BAD_SECRET_NAME", `${JSON.stringify(ref.param)} is not a parameter path`, {
      hint: "name the parameter by its dotted path from the root, e.g. www.adminpw (or adminpw for the root's own)",
      exitCode: 2,
    });
  }
}

export function checkScope(scope: string): void {
  if (!SCOPE_NAME.test(scope)) {
    throw new CollectiveError("BAD_SECRET_NAME", `${JSON.stringify(scope)} is not a scope name`, {
      hint: "a scope name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
      exitCode: 2,
    });
  }
}

export function checkValue(value: string): void {
  if (value === "") {
    throw new CollectiveError("BAD_SECRET_VALUE", "the value is empty", {
      hint: "a sensitive parameter needs a value; type it again",
    });
  }
  if (Buffer.byteLength(value, "utf8") > MAX_VALUE_BYTES) {
    throw new CollectiveError("BAD_SECRET_VALUE", `the value is longer than ${MAX_VALUE_BYTES} bytes`, {
      hint: "store a key or a password, not a file's worth of data",
    });
  }
}

/** The parameter's own name: the last part of its path. */
export function paramName(param: string): string {
  return param.slice(param.lastIndexOf(".") + 1);
}

// ---- the file ----

interface BoxJson {
  iv: string;
  sealed: string;
}

interface StoreFile {
  format: typeof STORE_FORMAT;
  version: typeof STORE_VERSION;
  kdf: { name: "scrypt"; N: number; r: number; p: number; salt: string };
  key: BoxJson;
  values: Array<{ file: string; param: string } & BoxJson>;
  shared: Array<{ scope: string; name: string } & BoxJson>;
  links: Array<{ file: string; param: string; scope: string }>;
  mac: string;
}

type Header = Pick<StoreFile, "kdf" | "key">;

const aadOf = {
  dataKey: (kdf: StoreFile["kdf"]) =>
    Buffer.from(JSON.stringify([STORE_FORMAT, STORE_VERSION, "data-key", kdf.N, kdf.r, kdf.p, kdf.salt])),
  value: (ref: SecretRef) =>
    Buffer.from(JSON.stringify([STORE_FORMAT, STORE_VERSION, "value", ref.file, ref.param])),
  shared: (scope: string, name: string) =>
    Buffer.from(JSON.stringify([STORE_FORMAT, STORE_VERSION, "shared", scope, name])),
};

const MAC_PURPOSE = `${STORE_FORMAT} ${STORE_VERSION} file mac`;

function corrupt(path: string, why: string): CollectiveError {
  return new CollectiveError(
    "STORE_CORRUPT",
    `the secret store ${path} is corrupt or was tampered with: ${why}`,
    {
      hint: "it was left as it is; restore it from a backup, or move it aside to start an empty store (every value must then be set again)",
    },
  );
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function b64(value: unknown): Buffer | undefined {
  return typeof value === "string" && B64.test(value) ? Buffer.from(value, "base64") : undefined;
}

function box(value: unknown): Sealed | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { iv, sealed } = value as Record<string, unknown>;
  const ivBytes = b64(iv);
  const sealedBytes = b64(sealed);
  return ivBytes && sealedBytes ? { iv: ivBytes, sealed: sealedBytes } : undefined;
}

function boxJson(sealed: Sealed): BoxJson {
  return { iv: sealed.iv.toString("base64"), sealed: sealed.sealed.toString("base64") };
}

/** Checks the file's shape (not yet its authenticity) and rebuilds it with keys in a fixed order. */
function parseStoreFile(path: string, text: string): StoreFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw corrupt(path, "it is not JSON");
  }
  const o = raw as Record<string, unknown>;
  if (typeof raw !== "object" || raw === null || o.format !== STORE_FORMAT) {
    throw corrupt(path, `it is not a ${STORE_FORMAT} file`);
  }
  if (o.version !== STORE_VERSION) {
    throw new CollectiveError(
      "STORE_VERSION",
      `the secret store ${path} has format version ${JSON.stringify(o.version)}; this cui reads version ${STORE_VERSION}`,
      { hint: "use the cui that wrote it (a newer one), or restore an older store" },
    );
  }
  const kdf = o.kdf as Record<string, unknown> | undefined;
  if (typeof kdf !== "object" || kdf === null || kdf.name !== "scrypt" || !b64(kdf.salt)) {
    throw corrupt(path, "its key derivation is not scrypt with a salt");
  }
  const params = { N: kdf.N as number, r: kdf.r as number, p: kdf.p as number };
  const problem = kdfParamsProblem(params);
  if (problem) throw corrupt(path, problem);
  if (!box(o.key)) throw corrupt(path, "its sealed data key is malformed");
  const list = (name: string): Array<Record<string, unknown>> => {
    const value = o[name];
    if (!Array.isArray(value) || !value.every((e) => typeof e === "object" && e !== null)) {
      throw corrupt(path, `its ${name} are not a list of entries`);
    }
    return value as Array<Record<string, unknown>>;
  };
  const str = (e: Record<string, unknown>, name: string): string => {
    if (typeof e[name] !== "string") throw corrupt(path, `an entry has no ${name}`);
    return e[name] as string;
  };
  const sealedOf = (e: Record<string, unknown>): BoxJson => {
    if (!box(e)) throw corrupt(path, "an entry's sealed value is malformed");
    return { iv: e.iv as string, sealed: e.sealed as string };
  };
  if (typeof o.mac !== "string" || !b64(o.mac)) throw corrupt(path, "it has no MAC");
  return {
    format: STORE_FORMAT,
    version: STORE_VERSION,
    kdf: { name: "scrypt", ...params, salt: kdf.salt as string },
    key: sealedOf(o.key as Record<string, unknown>),
    values: list("values").map((e) => ({ file: str(e, "file"), param: str(e, "param"), ...sealedOf(e) })),
    shared: list("shared").map((e) => ({ scope: str(e, "scope"), name: str(e, "name"), ...sealedOf(e) })),
    links: list("links").map((e) => ({
      file: str(e, "file"),
      param: str(e, "param"),
      scope: str(e, "scope"),
    })),
    mac: o.mac,
  };
}

/** The bytes the MAC covers: the whole file but the MAC, in the fixed key order parseStoreFile builds. */
function macInput(file: Omit<StoreFile, "mac">): Buffer {
  const { format, version, kdf, key, values, shared, links } = file;
  return Buffer.from(JSON.stringify({ format, version, kdf, key, values, shared, links }));
}

function readStoreText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new CollectiveError("STORE_MISSING", `there is no secret store at ${path}`, {
        hint: "'cui agent unlock' creates it, asking for a new password",
      });
    }
    throw new CollectiveError(
      "STORE_UNREADABLE",
      `cannot read the secret store ${path}: ${code ?? String(error)}`,
      {
        hint: "check the file's owner and mode (it should be yours, 0600)",
        cause: error,
      },
    );
  }
}

async function unwrapDataKey(path: string, header: Header, password: string): Promise<Buffer> {
  const kek = await deriveKey(password, Buffer.from(header.kdf.salt, "base64"), header.kdf);
  const dataKey = open(kek, box(header.key)!, aadOf.dataKey(header.kdf));
  if (dataKey?.length !== 32) {
    throw new CollectiveError("WRONG_PASSWORD", `the password does not open the secret store ${path}`, {
      hint: "try again; if you forgot it, the values cannot be recovered (move the file aside and set them again)",
    });
  }
  return dataKey;
}

async function wrapDataKey(dataKey: Buffer, password: string, kdf: KdfParams): Promise<Header> {
  const salt = randomSalt().toString("base64");
  const kdfJson = { name: "scrypt" as const, N: kdf.N, r: kdf.r, p: kdf.p, salt };
  const kek = await deriveKey(password, Buffer.from(salt, "base64"), kdf);
  return { kdf: kdfJson, key: boxJson(seal(kek, dataKey, aadOf.dataKey(kdfJson))) };
}

function checkPassword(password: string): void {
  if (password === "") {
    throw new CollectiveError("BAD_PASSWORD", "the password is empty", {
      hint: "choose a password for the secret store (a passphrase of several words is best)",
    });
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** An unlocked store: every value decrypted, in memory. Changes are written by save(). */
export class SecretStore {
  private readonly own = new Map<string, { ref: SecretRef; value: string }>();
  private readonly links = new Map<string, { ref: SecretRef; scope: string }>();
  private readonly shared = new Map<string, { scope: string; name: string; value: string }>();

  private constructor(
    readonly path: string,
    private header: Header,
    private readonly dataKey: Buffer,
    /** The file's hash as we last read or wrote it: save() refuses to replace anything else. */
    private lastWritten: string,
  ) {}

  /** Creates a new, empty store file; fails if one exists. */
  static async create(
    path: string,
    password: string,
    options: { kdf?: KdfParams } = {},
  ): Promise<SecretStore> {
    checkPassword(password);
    const kdf = options.kdf ?? DEFAULT_KDF;
    const problem = kdfParamsProblem(kdf);
    if (problem) throw new CollectiveError("BAD_KDF", problem);
    const dataKey = randomKey();
    const store = new SecretStore(path, await wrapDataKey(dataKey, password, kdf), dataKey, "");
    const text = store.serialize();
    try {
      writeFileAtomic(path, text, { mode: 0o600, exclusive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") {
        throw new CollectiveError("STORE_EXISTS", `a secret store already exists at ${path}`, {
          hint: "unlock it with its password ('cui agent unlock')",
        });
      }
      throw error;
    }
    store.lastWritten = sha256(text);
    return store;
  }

  /** Reads, authenticates and decrypts a store file. */
  static async open(path: string, password: string): Promise<SecretStore> {
    const text = readStoreText(path);
    const file = parseStoreFile(path, text);
    const dataKey = await unwrapDataKey(path, file, password);
    const store = new SecretStore(path, { kdf: file.kdf, key: file.key }, dataKey, sha256(text));
    store.load(file);
    return store;
  }

  private load(file: StoreFile): void {
    const { path, dataKey } = this;
    if (!macMatches(subkey(dataKey, MAC_PURPOSE), macInput(file), Buffer.from(file.mac, "base64"))) {
      throw corrupt(path, "its MAC does not match its contents");
    }
    const reveal = (sealed: BoxJson, aad: Buffer, what: string): string => {
      const padded = open(dataKey, box(sealed)!, aad);
      const bytes = padded && unpad(padded);
      if (!bytes) throw corrupt(path, `the value of ${what} does not open`);
      return bytes.toString("utf8");
    };
    for (const e of file.values) {
      const ref = { file: e.file, param: e.param };
      this.own.set(keyOf(ref), { ref, value: reveal(e, aadOf.value(ref), `${e.file} ${e.param}`) });
    }
    for (const e of file.shared) {
      const value = reveal(e, aadOf.shared(e.scope, e.name), `scope ${e.scope} ${e.name}`);
      this.shared.set(sharedKey(e.scope, e.name), { scope: e.scope, name: e.name, value });
    }
    for (const e of file.links) {
      const ref = { file: e.file, param: e.param };
      this.links.set(keyOf(ref), { ref, scope: e.scope });
    }
  }

  /** A parameter's value, and the scope it comes from when shared. */
  get(ref: SecretRef): { value: string; scope?: string } | undefined {
    const own = this.own.get(keyOf(ref));
    if (own) return { value: own.value };
    const link = this.links.get(keyOf(ref));
    if (!link) return undefined;
    const shared = this.shared.get(sharedKey(link.scope, paramName(ref.param)));
    return shared ? { value: shared.value, scope: link.scope } : undefined;
  }

  /** The scope a parameter is linked to, if any (even when the shared value is missing). */
  scopeOf(ref: SecretRef): string | undefined {
    return this.links.get(keyOf(ref))?.scope;
  }

  /**
   * Sets a parameter's value. With a scope, the value is the scope's (shared by every parameter of that
   * name linked to it) and the parameter is linked to it; without, the parameter gets its own value and
   * loses any link. Returns the scope the parameter was linked to before, if that changed.
   */
  set(ref: SecretRef, value: string, scope?: string): { unlinkedFrom?: string } {
    checkRef(ref);
    checkValue(value);
    const key = keyOf(ref);
    const before = this.links.get(key)?.scope;
    if (scope === undefined) {
      this.links.delete(key);
      this.own.set(key, { ref, value });
      return before === undefined ? {} : { unlinkedFrom: before };
    }
    checkScope(scope);
    const name = paramName(ref.param);
    this.shared.set(sharedKey(scope, name), { scope, name, value });
    this.own.delete(key);
    this.links.set(key, { ref, scope });
    return before === undefined || before === scope ? {} : { unlinkedFrom: before };
  }

  /** Forgets a parameter's own value or link (never a shared value). */
  remove(ref: SecretRef): boolean {
    const key = keyOf(ref);
    return this.own.delete(key) || this.links.delete(key);
  }

  /** Forgets a shared value and every link to it; returns how many links went, or undefined if none. */
  removeShared(scope: string, name: string): number | undefined {
    if (!this.shared.delete(sharedKey(scope, name))) return undefined;
    let removed = 0;
    for (const [key, link] of this.links) {
      if (link.scope === scope && paramName(link.ref.param) === name) {
        this.links.delete(key);
        removed++;
      }
    }
    return removed;
  }

  list(): StoreListing {
    const byRef = (a: SecretRef, b: SecretRef) =>
      a.file.localeCompare(b.file) || a.param.localeCompare(b.param);
    return {
      values: [...this.own.values()].map((e) => ({ ...e.ref })).sort(byRef),
      links: [...this.links.values()].map((e) => ({ ...e.ref, scope: e.scope })).sort(byRef),
      shared: [...this.shared.values()]
        .map(({ scope, name }) => ({ scope, name }))
        .sort((a, b) => a.scope.localeCompare(b.scope) || a.name.localeCompare(b.name)),
    };
  }

  /** Writes the store atomically, unless the file changed on disk since it was read or written. */
  save(): void {
    let current: string | undefined;
    try {
      current = readFileSync(this.path, "utf8");
    } catch {
      current = undefined;
    }
    if (current === undefined || sha256(current) !== this.lastWritten) {
      throw new CollectiveError(
        "STORE_CHANGED",
        `the secret store ${this.path} ${current === undefined ? "disappeared" : "changed on disk"} since it was unlocked; the change was not saved`,
        {
          hint: "lock the agent and unlock it again ('cui agent lock', 'cui agent unlock'), then repeat the change",
        },
      );
    }
    const text = this.serialize();
    writeFileAtomic(this.path, text, { mode: 0o600 });
    this.lastWritten = sha256(text);
  }

  /** The file's text: every value sealed again with a fresh IV. */
  private serialize(): string {
    const { dataKey } = this;
    const sealValue = (value: string, aad: Buffer) =>
      boxJson(seal(dataKey, pad(Buffer.from(value, "utf8")), aad));
    const byKey = <T>(map: Map<string, T>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
    const body: Omit<StoreFile, "mac"> = {
      format: STORE_FORMAT,
      version: STORE_VERSION,
      kdf: this.header.kdf,
      key: this.header.key,
      values: byKey(this.own).map(([, e]) => ({ ...e.ref, ...sealValue(e.value, aadOf.value(e.ref)) })),
      shared: byKey(this.shared).map(([, e]) => ({
        scope: e.scope,
        name: e.name,
        ...sealValue(e.value, aadOf.shared(e.scope, e.name)),
      })),
      links: byKey(this.links).map(([, e]) => ({ ...e.ref, scope: e.scope })),
    };
    // Rebuild through the parser's key order so the MAC input is the same bytes on reading.
    const canonical = macInput(body);
    const mac = macOf(subkey(dataKey, MAC_PURPOSE), canonical).toString("base64");
    return `${JSON.stringify({ ...body, mac }, null, 2)}\n`;
  }
}

/**
 * Changes the password of the store file: unwraps the data key with the old password, wraps it with the
 * new one (a fresh salt), and rewrites the file; the sealed values are kept byte for byte.
 */
export async function changeStorePassword(
  path: string,
  oldPassword: string,
  newPassword: string,
  options: { kdf?: KdfParams } = {},
): Promise<void> {
  checkPassword(newPassword);
  const text = readStoreText(path);
  const file = parseStoreFile(path, text);
  const dataKey = await unwrapDataKey(path, file, oldPassword);
  const macKey = subkey(dataKey, MAC_PURPOSE);
  if (!macMatches(macKey, macInput(file), Buffer.from(file.mac, "base64"))) {
    throw corrupt(path, "its MAC does not match its contents");
  }
  const kdf = options.kdf ?? { N: file.kdf.N, r: file.kdf.r, p: file.kdf.p };
  const problem = kdfParamsProblem(kdf);
  if (problem) throw new CollectiveError("BAD_KDF", problem);
  const header = await wrapDataKey(dataKey, newPassword, kdf);
  const { mac: _old, ...rest } = file;
  const body = { ...rest, ...header };
  const mac = macOf(macKey, macInput(body)).toString("base64");
  // Refuse to replace a file that changed while scrypt ran.
  if (readStoreText(path) !== text) {
    throw new CollectiveError(
      "STORE_CHANGED",
      `the secret store ${path} changed while its password was changed`,
      {
        hint: "run 'cui agent passwd' again",
      },
    );
  }
  writeFileAtomic(path, `${JSON.stringify({ ...body, mac }, null, 2)}\n`, { mode: 0o600 });
}

function keyOf(ref: SecretRef): string {
  return JSON.stringify([ref.file, ref.param]);
}

function sharedKey(scope: string, name: string): string {
  return JSON.stringify([scope, name]);
}
