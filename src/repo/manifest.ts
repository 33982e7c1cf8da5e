/** Signing and checking version manifests (docs/repository-format.md, sections 5 and 6). */

import type { KeyObject } from "node:crypto";
import { CollectiveError } from "../errors.js";
import type { Manifest, RepoDescriptor, SignatureFile } from "./format.js";
import { signBytes, verifyBytes } from "./keys.js";
import { checkManifestShape } from "./manifest-shape.js";

export function encodeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
}

export function signManifest(bytes: Uint8Array, privateKey: KeyObject, publicKey: string): Buffer {
  const signature: SignatureFile = {
    algorithm: "ed25519",
    key: publicKey,
    signature: signBytes(privateKey, bytes),
  };
  return Buffer.from(`${JSON.stringify(signature)}\n`);
}

export interface VerifyContext {
  /** Names the repository in messages (its URL). */
  readonly where: string;
  readonly descriptor: RepoDescriptor;
  readonly version: number;
  /** A pinned key: the signer must be this one, whatever repo.json says. */
  readonly pinnedKey?: string | undefined;
}

function fail(context: VerifyContext, what: string, hint?: string): CollectiveError {
  return new CollectiveError(
    "MANIFEST_INVALID",
    `${context.where} version ${context.version}: ${what}`,
    hint ? { hint } : {},
  );
}

/** Checks signature, shape (manifest-shape.ts), signer and identity; returns the parsed manifest. */
export function verifyManifest(
  bytes: Uint8Array,
  signatureBytes: Uint8Array,
  context: VerifyContext,
): Manifest {
  let signature: Partial<SignatureFile> | null;
  try {
    signature = JSON.parse(Buffer.from(signatureBytes).toString("utf8"));
  } catch {
    throw fail(context, "manifest.sig is not valid JSON");
  }
  if (
    typeof signature !== "object" ||
    signature === null ||
    signature.algorithm !== "ed25519" ||
    typeof signature.key !== "string" ||
    typeof signature.signature !== "string"
  ) {
    throw fail(context, "manifest.sig is not an ed25519 signature");
  }
  if (context.pinnedKey !== undefined && signature.key !== context.pinnedKey) {
    throw new CollectiveError(
      "KEY_MISMATCH",
      `${context.where} version ${context.version} is signed by ${signature.key}, but the pinned key is ${context.pinnedKey}`,
      {
        hint: "the repository changed hands or was tampered with; check the key with its publisher before changing the pin",
      },
    );
  }
  if (context.pinnedKey === undefined && !context.descriptor.keys.includes(signature.key)) {
    throw fail(
      context,
      `signed by ${signature.key}, which is not a key of the repository (${context.descriptor.keys.join(", ")})`,
    );
  }
  if (!verifyBytes(signature.key, bytes, signature.signature)) {
    throw fail(
      context,
      `the manifest signature does not verify with ${signature.key}`,
      "the manifest was altered after signing; do not use this version",
    );
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw fail(context, "manifest.json is not valid JSON");
  }
  // Signed is not well-formed: a buggy or other-version publisher's manifest is refused here, with the
  // field named, rather than crashing whatever reads the field later.
  checkManifestShape(manifest, (what, hint) => fail(context, what, hint));
  if (manifest.signer !== signature.key)
    throw fail(context, `the manifest names signer ${manifest.signer} but is signed by ${signature.key}`);
  if (manifest.repository !== context.descriptor.id) {
    throw fail(
      context,
      `the manifest belongs to repository ${manifest.repository}, not ${context.descriptor.id}`,
    );
  }
  if (manifest.version !== context.version)
    throw fail(context, `the manifest says it is version ${manifest.version}`);
  return manifest;
}
