/**
 * Publisher keys: ed25519 via node:crypto. Public keys travel as "ed25519:<base64 of the raw 32 bytes>";
 * private keys live outside repositories, as PKCS#8 PEM files of mode 0600.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { chmod, mkdir, open, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CollectiveError } from "../errors.js";
import { readRegularFile } from "../fs-safety/regular-file.js";

const KEY_PREFIX = "ed25519:";
/** DER prefix of an ed25519 SubjectPublicKeyInfo; the raw key follows. */
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function defaultKeyPath(): string {
  const fromEnv = process.env.COLLECTIVE_PUBLISHER_KEY;
  if (fromEnv) return fromEnv;
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(config, "collective", "publisher.key");
}

export function formatPublicKey(key: KeyObject): string {
  const der = key.export({ format: "der", type: "spki" });
  return KEY_PREFIX + der.subarray(SPKI_PREFIX.length).toString("base64");
}

/** Parses "ed25519:<base64>"; throws a CollectiveError naming the text when it is not one. */
export function parsePublicKey(text: string): KeyObject {
  const raw = text.startsWith(KEY_PREFIX) ? Buffer.from(text.slice(KEY_PREFIX.length), "base64") : undefined;
  if (raw === undefined || raw.length !== 32 || raw.toString("base64") !== text.slice(KEY_PREFIX.length)) {
    throw new CollectiveError("BAD_KEY", `"${text}" is not an ed25519 public key`, {
      hint: 'write keys as "ed25519:" followed by the base64 of the 32-byte key, as `cui create` prints them',
    });
  }
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

export function signBytes(privateKey: KeyObject, bytes: Uint8Array): string {
  return sign(null, bytes, privateKey).toString("base64");
}

export function verifyBytes(publicKey: string, bytes: Uint8Array, signature: string): boolean {
  try {
    const sig = Buffer.from(signature, "base64");
    if (sig.length !== 64) return false;
    return verify(null, bytes, parsePublicKey(publicKey), sig);
  } catch {
    return false;
  }
}

export interface Publisher {
  readonly privateKey: KeyObject;
  readonly publicKey: string;
  readonly path: string;
}

/** Loads the publisher's key from path; throws a CollectiveError saying how to create one when absent. */
export async function loadPublisherKey(path: string): Promise<Publisher> {
  const unreadable = (why: string): CollectiveError =>
    new CollectiveError("KEY_UNREADABLE", `cannot read the publisher key ${path} (${why})`, {
      hint: "create one with `cui create <dir>`, or name an existing key with --key PATH or $COLLECTIVE_PUBLISHER_KEY",
    });
  let pem: string;
  try {
    // A regular file only: a fifo would be waited on forever, /dev/zero read until memory runs out.
    pem = (await readRegularFile(path, (kind) => unreadable(`it is ${kind}`))).toString("utf8");
  } catch (error) {
    if (error instanceof CollectiveError) throw error;
    throw unreadable((error as NodeJS.ErrnoException).code ?? String(error));
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new CollectiveError("KEY_INVALID", `${path} is not a PEM private key`, {
      hint: "point --key at the file `cui create` wrote",
    });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new CollectiveError(
      "KEY_INVALID",
      `${path} holds a ${privateKey.asymmetricKeyType} key, not ed25519`,
    );
  }
  return { privateKey, publicKey: formatPublicKey(createPublicKey(privateKey)), path };
}

/** Loads the key at path, or creates it (mode 0600, directory 0700) when there is none. */
export async function loadOrCreatePublisherKey(path: string): Promise<Publisher & { created: boolean }> {
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ format: "pem", type: "pkcs8" });
  const cannotCreate = (error: unknown): CollectiveError =>
    new CollectiveError(
      "KEY_CREATE_FAILED",
      `cannot create the publisher key ${path}: ${(error as Error).message}`,
      {
        hint: "name a key file in a directory you may write with --key PATH or $COLLECTIVE_PUBLISHER_KEY",
      },
    );
  await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw cannotCreate(error);
  });
  try {
    const handle = await open(path, "wx", 0o600);
    try {
      await handle.writeFile(pem);
      await handle.sync();
    } catch (error) {
      // A full disk: no empty or cut-off key file left behind to be taken for a key later.
      await handle.close();
      await unlink(path).catch(() => undefined);
      throw error;
    }
    await handle.close();
    await chmod(path, 0o600);
    return { ...(await loadPublisherKey(path)), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw cannotCreate(error);
  }
  return { ...(await loadPublisherKey(path)), created: false };
}
