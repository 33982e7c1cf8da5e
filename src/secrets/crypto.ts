/**
 * The store's cryptography, all from node:crypto: scrypt turns the user's password into a key-encryption
 * key; AES-256-GCM seals the data key and every value, with authenticated data that says what the sealed
 * bytes are (so they cannot be moved elsewhere in the file); HMAC-SHA256 under a key derived from the data
 * key authenticates the file as a whole (so entries cannot be dropped, rolled back or relinked).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from "node:crypto";

/** scrypt's cost: N (CPU and memory, a power of two), r (block size), p (parallelism). */
export interface KdfParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** 128 MiB and about half a second per unlock: strong, and still quick enough for a person. */
export const DEFAULT_KDF: KdfParams = { N: 2 ** 17, r: 8, p: 1 };

/**
 * What a file may ask for. The floor lets tests run fast (they pass a low N explicitly); the ceiling stops
 * a crafted file from making unlock allocate gigabytes.
 */
export const KDF_LIMITS = { minN: 2 ** 10, maxN: 2 ** 20, maxR: 32, maxP: 16 } as const;

export const KEY_BYTES = 32;
export const IV_BYTES = 12;
const TAG_BYTES = 16;

export function kdfParamsProblem(kdf: KdfParams): string | undefined {
  const { N, r, p } = kdf;
  if (!Number.isInteger(N) || N < KDF_LIMITS.minN || N > KDF_LIMITS.maxN || (N & (N - 1)) !== 0) {
    return `scrypt N=${N} is not a power of two between ${KDF_LIMITS.minN} and ${KDF_LIMITS.maxN}`;
  }
  if (!Number.isInteger(r) || r < 1 || r > KDF_LIMITS.maxR) return `scrypt r=${r} is not between 1 and 32`;
  if (!Number.isInteger(p) || p < 1 || p > KDF_LIMITS.maxP) return `scrypt p=${p} is not between 1 and 16`;
  return undefined;
}

/** The key-encryption key for a password. */
export function deriveKey(password: string, salt: Buffer, kdf: KdfParams): Promise<Buffer> {
  const { N, r, p } = kdf;
  // scrypt needs 128*N*r bytes; Node's default cap (32 MiB) is below our default cost.
  const maxmem = 128 * N * r * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, KEY_BYTES, { N, r, p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

export function randomKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function randomSalt(): Buffer {
  return randomBytes(16);
}

export interface Sealed {
  readonly iv: Buffer;
  /** Ciphertext followed by the 16-byte GCM tag. */
  readonly sealed: Buffer;
}

/** AES-256-GCM with a fresh random IV. */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, sealed: Buffer.concat([body, cipher.getAuthTag()]) };
}

/** The plaintext, or undefined when the key, the authenticated data or the bytes do not match. */
export function open(key: Buffer, box: Sealed, aad: Buffer): Buffer | undefined {
  if (box.iv.length !== IV_BYTES || box.sealed.length < TAG_BYTES) return undefined;
  const decipher = createDecipheriv("aes-256-gcm", key, box.iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(box.sealed.subarray(box.sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(box.sealed.subarray(0, box.sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    return undefined;
  }
}

/** A key for `purpose`, derived from the data key (so one data key never serves two algorithms). */
export function subkey(dataKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", dataKey, Buffer.alloc(0), purpose, KEY_BYTES));
}

export function mac(key: Buffer, data: Buffer): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

export function macMatches(key: Buffer, data: Buffer, presented: Buffer): boolean {
  const expected = mac(key, data);
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}

/**
 * Values are padded to a multiple of 64 bytes before sealing (a 4-byte length first), so the file does
 * not tell how long each password is, only roughly how long long keys are.
 */
export function pad(value: Buffer): Buffer {
  const length = 4 + value.length;
  const padded = Buffer.alloc(Math.ceil(length / 64) * 64);
  padded.writeUInt32BE(value.length, 0);
  value.copy(padded, 4);
  return padded;
}

export function unpad(padded: Buffer): Buffer | undefined {
  if (padded.length < 4) return undefined;
  const length = padded.readUInt32BE(0);
  if (length > padded.length - 4) return undefined;
  return padded.subarray(4, 4 + length);
}
