import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import type { KdfParams } from "./crypto.js";
import { changeStorePassword, SecretStore } from "./store.js";

/** Cheap scrypt for tests; real stores use DEFAULT_KDF. */
const kdf: KdfParams = { N: 1024, r: 8, p: 1 };
const A = { file: "/srv/acme.cvl", param: "www.adminpw" };
const B = { file: "/srv/acme.cvl", param: "db.rootpw" };
const C = { file: "/srv/other.cvl", param: "www.adminpw" };

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cui-store-"));
  path = join(dir, "secrets.store");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function code(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    if (error instanceof CollectiveError) return error.code;
    throw error;
  }
  return "no error";
}

async function filled(): Promise<SecretStore> {
  const store = await SecretStore.create(path, "correct horse", { kdf });
  store.set(A, "alpha-value");
  store.set(B, "bravo-value");
  store.set(C, "shared-value", "ops");
  store.save();
  return store;
}

// biome-ignore lint/suspicious/noExplicitAny: the tests damage arbitrary parts of the JSON
function edit(change: (file: Record<string, any>) => void): void {
  const file = JSON.parse(readFileSync(path, "utf8"));
  change(file);
  writeFileSync(path, JSON.stringify(file));
}

describe("the secret store", () => {
  it("round-trips values, links and shared scopes through the file", async () => {
    await filled();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await SecretStore.open(path, "correct horse");
    expect(again.get(A)).toEqual({ value: "alpha-value" });
    expect(again.get(B)).toEqual({ value: "bravo-value" });
    expect(again.get(C)).toEqual({ value: "shared-value", scope: "ops" });
    expect(again.get({ file: "/srv/acme.cvl", param: "nope" })).toBeUndefined();
    expect(again.list()).toEqual({
      values: [B, A],
      links: [{ ...C, scope: "ops" }],
      shared: [{ scope: "ops", name: "adminpw" }],
    });
  });

  it("shares one value between appliances linked to a scope", async () => {
    const store = await filled();
    store.set(A, "new-shared", "ops");
    expect(store.get(A)).toEqual({ value: "new-shared", scope: "ops" });
    expect(store.get(C)).toEqual({ value: "new-shared", scope: "ops" });
    expect(store.set(A, "own-again")).toEqual({ unlinkedFrom: "ops" });
    expect(store.get(A)).toEqual({ value: "own-again" });
    expect(store.removeShared("ops", "adminpw")).toBe(1);
    expect(store.get(C)).toBeUndefined();
    expect(store.list().links).toEqual([]);
  });

  it("removes a parameter's own value or link", async () => {
    const store = await filled();
    expect(store.remove(A)).toBe(true);
    expect(store.remove(A)).toBe(false);
    expect(store.remove(C)).toBe(true);
    expect(store.list().shared).toEqual([{ scope: "ops", name: "adminpw" }]);
    store.save();
    expect((await SecretStore.open(path, "correct horse")).get(A)).toBeUndefined();
  });

  it("keeps values that are not ASCII, and hides their length in 64-byte steps", async () => {
    const store = await SecretStore.create(path, "pw", { kdf });
    store.set(A, "päss wörd ✓\nsecond line");
    store.set(B, "x");
    store.save();
    expect((await SecretStore.open(path, "pw")).get(A)?.value).toBe("päss wörd ✓\nsecond line");
    const file = JSON.parse(readFileSync(path, "utf8"));
    const lengths = file.values.map((v: { sealed: string }) => Buffer.from(v.sealed, "base64").length);
    expect(lengths).toEqual([64 + 16, 64 + 16]);
  });

  it.each([
    ["a wrong password", async () => SecretStore.open(path, "wrong"), "WRONG_PASSWORD"],
    ["no file", async () => SecretStore.open(join(dir, "none"), "pw"), "STORE_MISSING"],
    ["creating over an existing store", async () => SecretStore.create(path, "pw", { kdf }), "STORE_EXISTS"],
    ["an empty password", async () => SecretStore.create(join(dir, "n"), "", { kdf }), "BAD_PASSWORD"],
    [
      "too cheap a KDF",
      async () => SecretStore.create(join(dir, "n"), "pw", { kdf: { N: 16, r: 1, p: 1 } }),
      "BAD_KDF",
    ],
  ])("refuses %s", async (_name, action, expected) => {
    await filled();
    expect(await code(action())).toBe(expected);
  });

  it.each([
    ["not JSON", () => writeFileSync(path, "{ this is not json")],
    ["truncated", () => writeFileSync(path, readFileSync(path, "utf8").slice(0, 200))],
    ["another format", () => edit((f) => (f.format = "other"))],
    ["a flipped ciphertext byte", () => edit((f) => (f.values[0].sealed = flip(f.values[0].sealed)))],
    ["a flipped IV", () => edit((f) => (f.shared[0].iv = flip(f.shared[0].iv)))],
    ["a dropped entry", () => edit((f) => f.values.pop())],
    ["a renamed entry", () => edit((f) => (f.values[0].param = "www.other"))],
    ["a moved link", () => edit((f) => (f.links[0].file = "/srv/acme.cvl"))],
    ["a missing MAC", () => edit((f) => delete f.mac)],
    ["a huge scrypt cost", () => edit((f) => (f.kdf.N = 2 ** 30))],
  ])("reports a file with %s as STORE_CORRUPT, naming the file", async (_name, damage) => {
    await filled();
    damage();
    try {
      await SecretStore.open(path, "correct horse");
      expect.unreachable();
    } catch (error) {
      expect((error as CollectiveError).code).toBe("STORE_CORRUPT");
      expect((error as Error).message).toContain(path);
    }
  });

  it("cannot open a value swapped into another entry, even with a fixed-up MAC", async () => {
    // The MAC alone would catch the swap; this checks the per-value binding by itself, as an attacker who
    // somehow had the MAC key (but not the AAD's cooperation) would find it.
    await filled();
    const store = await SecretStore.open(path, "correct horse");
    const file = JSON.parse(readFileSync(path, "utf8"));
    const [first, second] = file.values;
    [first.iv, first.sealed, second.iv, second.sealed] = [second.iv, second.sealed, first.iv, first.sealed];
    const { mac: _mac, ...body } = file;
    const dataKey = (store as unknown as { dataKey: Buffer }).dataKey;
    const { mac, subkey } = await import("./crypto.js");
    const input = Buffer.from(JSON.stringify(body));
    file.mac = mac(subkey(dataKey, "collective-secrets 1 file mac"), input).toString("base64");
    writeFileSync(path, JSON.stringify(file));
    await expect(SecretStore.open(path, "correct horse")).rejects.toThrow(/does not open/);
  });

  it("a shared value cannot be swapped for an appliance's own value", async () => {
    await filled();
    const store = await SecretStore.open(path, "correct horse");
    const file = JSON.parse(readFileSync(path, "utf8"));
    const own = file.values[0];
    [file.shared[0].iv, file.shared[0].sealed] = [own.iv, own.sealed];
    const { mac: _mac, ...body } = file;
    const dataKey = (store as unknown as { dataKey: Buffer }).dataKey;
    const { mac, subkey } = await import("./crypto.js");
    file.mac = mac(
      subkey(dataKey, "collective-secrets 1 file mac"),
      Buffer.from(JSON.stringify(body)),
    ).toString("base64");
    writeFileSync(path, JSON.stringify(file));
    await expect(SecretStore.open(path, "correct horse")).rejects.toThrow(/scope ops adminpw does not open/);
  });

  it("never overwrites a file that changed on disk after it was read", async () => {
    const store = await filled();
    writeFileSync(path, "tampered");
    store.set(A, "changed");
    expect(await code(() => store.save())).toBe("STORE_CHANGED");
    expect(readFileSync(path, "utf8")).toBe("tampered");
  });

  it("changes the password by re-wrapping the data key only", async () => {
    await filled();
    const before = JSON.parse(readFileSync(path, "utf8"));
    await changeStorePassword(path, "correct horse", "battery staple");
    const after = JSON.parse(readFileSync(path, "utf8"));
    expect(after.values).toEqual(before.values);
    expect(after.shared).toEqual(before.shared);
    expect(after.kdf.salt).not.toBe(before.kdf.salt);
    expect(await code(SecretStore.open(path, "correct horse"))).toBe("WRONG_PASSWORD");
    expect((await SecretStore.open(path, "battery staple")).get(A)?.value).toBe("alpha-value");
    expect(await code(changeStorePassword(path, "wrong", "x"))).toBe("WRONG_PASSWORD");
    expect(readdirSync(dir)).toEqual(["secrets.store"]);
  });

  it("does not save a corrupt file's password change", async () => {
    await filled();
    edit((f) => f.links.pop());
    const damaged = readFileSync(path, "utf8");
    expect(await code(changeStorePassword(path, "correct horse", "new"))).toBe("STORE_CORRUPT");
    expect(readFileSync(path, "utf8")).toBe(damaged);
  });

  it("tells an unreadable file from a missing one", async () => {
    await filled();
    chmodSync(path, 0o000);
    // root reads anything: only check when not root.
    if (process.getuid?.() !== 0) expect(await code(SecretStore.open(path, "x"))).toBe("STORE_UNREADABLE");
  });

  it.each([
    [{ file: "relative.cvl", param: "a" }, "BAD_SECRET_NAME"],
    [{ file: "/a.cvl", param: "www..x" }, "BAD_SECRET_NAME"],
    [{ file: "/a.cvl", param: "1x" }, "BAD_SECRET_NAME"],
  ])("rejects the name %j", async (ref, expected) => {
    const store = await SecretStore.create(path, "pw", { kdf });
    expect(await code(() => store.set(ref, "v"))).toBe(expected);
  });

  it.each([
    ["", "BAD_SECRET_VALUE"],
    ["x".repeat(64 * 1024 + 1), "BAD_SECRET_VALUE"],
  ])("rejects a bad value (%#)", async (value, expected) => {
    const store = await SecretStore.create(path, "pw", { kdf });
    expect(await code(() => store.set(A, value))).toBe(expected);
    expect(await code(() => store.set(A, "v", "bad scope!"))).toBe("BAD_SECRET_NAME");
  });
});

function flip(b64: string): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[0]! ^= 1;
  return bytes.toString("base64");
}
