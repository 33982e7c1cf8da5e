/**
 * Withdrawing a version: a signed notice (withdrawals/N.json + .sig) beside the immutable version. The
 * version stays readable for instances that run it; resolvers skip it when choosing the latest.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { CollectiveError } from "../errors.js";
import { rebuildFeed } from "./feed-writer.js";
import { paths, type SignatureFile, type Withdrawal } from "./format.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { loadPublisherKey, signBytes, verifyBytes } from "./keys.js";
import { withPublishLock } from "./publish-lock.js";
import { readLocalDescriptor } from "./repo-layout.js";

export async function withdrawVersion(
  repoDir: string,
  version: number,
  keyPath: string,
  reason?: string,
): Promise<void> {
  const descriptor = await readLocalDescriptor(repoDir);
  const publisher = await loadPublisherKey(keyPath);
  if (!descriptor.keys.includes(publisher.publicKey)) {
    throw new CollectiveError(
      "KEY_NOT_PUBLISHER",
      `the key ${keyPath} (${publisher.publicKey}) is not a publisher key of ${repoDir}`,
    );
  }
  const exists = await access(join(repoDir, paths.manifest(version))).then(
    () => true,
    () => false,
  );
  if (!exists)
    throw new CollectiveError("VERSION_NOT_FOUND", `${repoDir} has no version ${version}`, {
      hint: "list them with cui versions",
    });
  const notice: Withdrawal = {
    repository: descriptor.id,
    version,
    date: new Date().toISOString(),
    ...(reason ? { reason } : {}),
  };
  const bytes = Buffer.from(`${JSON.stringify(notice, null, 1)}\n`);
  const signature: SignatureFile = {
    algorithm: "ed25519",
    key: publisher.publicKey,
    signature: signBytes(publisher.privateKey, bytes),
  };
  await withPublishLock(repoDir, async () => {
    // Signature first: a notice without its signature is ignored, so a crash between the two is harmless.
    await writeFileAtomic(
      join(repoDir, paths.withdrawalSignature(version)),
      `${JSON.stringify(signature)}\n`,
    );
    await writeFileAtomic(join(repoDir, paths.withdrawal(version)), bytes);
    await rebuildFeed(repoDir, descriptor);
  });
}

/** Whether a withdrawal notice is genuine: signed by a repository key, for this repository and version. */
export function verifyWithdrawal(
  noticeBytes: Uint8Array,
  signatureBytes: Uint8Array,
  keys: readonly string[],
  repositoryId: string,
  version: number,
): boolean {
  try {
    const signature = JSON.parse(Buffer.from(signatureBytes).toString("utf8")) as SignatureFile;
    if (!keys.includes(signature.key) || !verifyBytes(signature.key, noticeBytes, signature.signature))
      return false;
    const notice = JSON.parse(Buffer.from(noticeBytes).toString("utf8")) as Withdrawal;
    return notice.repository === repositoryId && notice.version === version;
  } catch {
    return false;
  }
}
